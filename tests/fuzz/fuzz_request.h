/* What the request-body fuzz targets share: CHECK (abort on a broken
 * invariant, so libFuzzer reports it) and the set-up that installs the
 * embedded default config once, so gw_request_new() can make requests. */
#ifndef GW_FUZZ_REQUEST_H
#define GW_FUZZ_REQUEST_H

#include <stdio.h>
#include <stdlib.h>

#include "crypto.h"
#include "log.h"
#include "runtime.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static inline void fuzz_install_default_config(const char *target)
{
    char err[512];
    gw_log_set_level(GW_LOG_ERROR);
    if (gw_crypto_init() != 0)
        abort();
    unsetenv("OPENAI_API_KEY");
    struct gw_config *cfg = gw_config_load(NULL, err, sizeof err);
    if (!cfg || gw_runtime_set_config(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", target, err);
        abort();
    }
}

#endif

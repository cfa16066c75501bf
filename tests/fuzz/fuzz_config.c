/* libFuzzer target for common/config.c: gw_config_parse on arbitrary bytes
 * (not NUL-terminated, so a read past the end is caught). A config that loads
 * must be self-consistent; one that does not must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_config(const struct gw_config *cfg)
{
    CHECK(cfg->arena && cfg->path && cfg->listen_host && cfg->data_dir && cfg->admin_socket);
    CHECK(cfg->listen_port >= 0 && cfg->listen_port <= 65535);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct gw_provider_cfg *p = &cfg->providers[i];
        CHECK(p->name);
        CHECK(gw_config_provider_index(cfg, p->name) >= 0);
        CHECK(p->type >= GW_PROVIDER_ECHO && p->type <= GW_PROVIDER_VERTEX);
        CHECK(p->type == GW_PROVIDER_ECHO || p->base_url);
    }
    for (size_t i = 0; i < cfg->n_models; i++) {
        const struct gw_model_cfg *m = &cfg->models[i];
        CHECK(m->name && m->n_deployments >= 1 && m->deployments);
        CHECK(gw_config_model(cfg, m->name) != NULL);
        for (size_t d = 0; d < m->n_deployments; d++) {
            const struct gw_deployment_cfg *dep = &m->deployments[d];
            CHECK(dep->provider >= 0 && (size_t)dep->provider < cfg->n_providers);
            CHECK(dep->model);
        }
        /* timeouts are inherited: none is left at 0 */
        CHECK(m->timeouts.connect_ms > 0 && m->timeouts.first_byte_ms > 0 &&
              m->timeouts.idle_ms > 0 && m->timeouts.total_ms > 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: the parser gets a length, not a C string */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    char err[512];
    err[0] = '\0';
    struct gw_config *cfg = gw_config_parse("fuzz.yaml", text, size, err, sizeof err);
    if (cfg) {
        check_config(cfg);
        gw_config_free(cfg);
    } else {
        /* "FILE:LINE: key: what is wrong" */
        CHECK(strncmp(err, "fuzz.yaml", 9) == 0);
        CHECK(memchr(err, '\0', sizeof err) != NULL);
    }
    free(text);
    return 0;
}

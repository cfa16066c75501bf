/* mock_upstream: command line, process setup (file limit, signals, the
 * Vertex AI token key), the port file and orderly shutdown of the mock LLM
 * upstream.
 *
 * DESIGN: SIGINT/SIGTERM are blocked before any thread starts, so every
 * thread inherits the mask and the main thread alone collects them with
 * sigwait(); it then stops the wake-up timer and the MHD daemon in that
 * order (see wake.c) and exits 0. */
#include "mock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void mock_main_usage(FILE *f)
{
    fputs("usage: mock_upstream [--host ADDR] [--port N] [--port-file FILE] [--threads N]\n"
          "                     [--gcp-public-key FILE]\n"
          "  --host ADDR            address to listen on (default 127.0.0.1)\n"
          "  --port N               TCP port, 0 picks a free one (default 0)\n"
          "  --port-file FILE       write the bound port there once listening\n"
          "  --threads N            worker threads (default: number of CPUs)\n"
          "  --gcp-public-key FILE  PEM RSA public key (or certificate) verifying the JWT\n"
          "                         assertions of POST /token (Vertex AI)\n",
          f);
}

static bool mock_main_number(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

/* Accepts "--opt VALUE" and "--opt=VALUE". */
static bool mock_main_parse(int argc, char **argv, struct mock_server_opts *o,
                            const char **port_file, const char **gcp_key)
{
    static const char *const names[] = {"--host", "--port", "--port-file", "--threads",
                                        "--gcp-public-key"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        size_t klen = strcspn(arg, "=");
        int opt = -1;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            mock_main_usage(stdout);
            exit(0);
        }
        for (int k = 0; k < 5; k++)
            if (strlen(names[k]) == klen && strncmp(arg, names[k], klen) == 0)
                opt = k;
        if (opt < 0) {
            fprintf(stderr, "mock_upstream: unknown option %s\n", arg);
            return false;
        }
        if (arg[klen] == '=')
            val = arg + klen + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        if (!val) {
            fprintf(stderr, "mock_upstream: %s needs a value\n", arg);
            return false;
        }
        bool ok = true;
        if (opt == 0)
            o->host = val;
        else if (opt == 1)
            ok = mock_main_number(val, 65535, &o->port);
        else if (opt == 2)
            *port_file = val;
        else if (opt == 4)
            *gcp_key = val;
        else
            ok = mock_main_number(val, 1024, &o->threads) && o->threads > 0;
        if (!ok) {
            fprintf(stderr, "mock_upstream: bad value for %.*s: %s\n", (int)klen, arg, val);
            return false;
        }
    }
    return true;
}

static bool mock_main_write_port(const char *path, unsigned port)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp)
        return false;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%u\n", port) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "mock_upstream: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

static void mock_main_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct mock_server_opts o = {
        .host = "127.0.0.1", .port = 0, .threads = ncpu > 0 ? (unsigned)ncpu : 1};
    const char *port_file = NULL, *gcp_key = NULL;
    if (!mock_main_parse(argc, argv, &o, &port_file, &gcp_key)) {
        mock_main_usage(stderr);
        return 2;
    }
    if (gcp_key && !mock_oauth_load_key(gcp_key)) {
        fprintf(stderr, "mock_upstream: cannot load an RSA public key from %s\n", gcp_key);
        return 1;
    }

    mock_main_raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    /* A shell starting us in the background may have set SIGINT to "ignore",
     * and an ignored signal is discarded even while blocked: restore it. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    if (!mock_wake_start()) {
        fprintf(stderr, "mock_upstream: cannot start the timer thread\n");
        mock_oauth_free();
        return 1;
    }
    unsigned port;
    struct MHD_Daemon *d = mock_server_start(&o, &port);
    if (!d) {
        mock_wake_stop();
        mock_oauth_free();
        return 1;
    }
    if (port_file && !mock_main_write_port(port_file, port)) {
        mock_server_stop(d);
        mock_oauth_free();
        return 1;
    }
    bool v6 = strchr(o.host, ':') != NULL;
    fprintf(stderr, "mock_upstream listening on %s%s%s:%u\n", v6 ? "[" : "", o.host, v6 ? "]" : "",
            port);

    int sig;
    while (sigwait(&stop, &sig) != 0)
        ;
    mock_server_stop(d);
    mock_record_clear();
    mock_oauth_free();
    return 0;
}

/* gatewayd start-up, signals and shutdown: parses the command line, loads
 * the config, opens and migrates the database, starts the threads (writer,
 * upstream worker, HTTP pool, admin socket), then waits for signals in the
 * main thread. SIGHUP reloads the config; SIGTERM/SIGINT drain and exit. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "prompts.h"
#include "rag.h"
#include "ratelimit.h"
#include "request.h"
#include "runtime.h"
#include "upstream.h"
#include "writer.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: gatewayd [-c FILE] [--check-config] [--help] [--version]\n"
               "\n"
               "  -c, --config FILE   configuration (YAML); without it the embedded default\n"
               "                      runs: 127.0.0.1:8080, data in ./var, the echo model,\n"
               "                      and OpenAI models when OPENAI_API_KEY is set\n"
               "      --check-config  validate the configuration and exit (0 = valid)\n"
               "  -h, --help          this help\n"
               "  -V, --version       print the version\n"
               "\n"
               "Signals: SIGHUP reloads the configuration; SIGTERM/SIGINT drain and exit.\n"
               "Docs: docs/configuration.md, docs/http-api.md, docs/gwctl.md\n");
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* SIGHUP / gwctl reload: parse again, refuse changes that need a restart. */
static int reload_config(char *err, size_t errlen)
{
    struct gw_config *next = gw_config_load(gw_runtime.config_path, err, errlen);
    if (!next)
        return -1;
    struct gw_cfg_ref *cur = gw_runtime_config_acquire();
    const struct gw_config *c = cur->cfg;
    int restart = strcmp(c->listen_host, next->listen_host) != 0 ||
                  c->listen_port != next->listen_port || strcmp(c->data_dir, next->data_dir) != 0 ||
                  strcmp(c->admin_socket, next->admin_socket) != 0;
    gw_runtime_config_release(cur);
    if (restart)
        gw_warn(
            "reload: listen, data_dir and admin_socket changes take effect at the next restart");
    enum gw_log_level lvl;
    const char *path = gw_runtime.config_path ? gw_runtime.config_path : "(embedded default)";
    size_t np = next->n_providers, nm = next->n_models;
    if (gw_log_parse_level(next->log_level, &lvl) != 0)
        lvl = GW_LOG_INFO;
    if (gw_runtime_set_config(next, err, errlen) != 0)
        return -1;
    gw_log_set_level(lvl);
    gw_info("configuration reloaded from %s (%zu providers, %zu models)", path, np, nm);
    return 0;
}

static void drain(int grace_ms)
{
    long long deadline = gw_now_us() + (long long)grace_ms * 1000;
    long n;
    while ((n = gw_request_in_flight()) > 0 && gw_now_us() < deadline)
        usleep(20000);
    if (n > 0)
        gw_warn("shutdown: %ld requests still running after %d ms; ending them", n, grace_ms);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int check_only = 0, c;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check_only = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("gatewayd %s\n", GW_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }

    char err[1024];
    struct gw_config *cfg = gw_config_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "gatewayd: %s\n", err);
        return 1;
    }
    if (check_only) {
        printf("%s: ok (%zu providers, %zu models)\n", cfg->path, cfg->n_providers, cfg->n_models);
        gw_config_free(cfg);
        return 0;
    }
    enum gw_log_level lvl;
    if (gw_log_parse_level(cfg->log_level, &lvl) == 0)
        gw_log_set_level(lvl);

    /* signals are taken by sigwait in this thread; every other thread blocks them */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    int rc = 1;
    gw_runtime.config_path = path;
    gw_runtime.started_ms = gw_wall_ms();
    snprintf(gw_runtime.db_path, sizeof gw_runtime.db_path, "%s/gateway.db", cfg->data_dir);
    if (gw_crypto_init() != 0) {
        fprintf(stderr, "gatewayd: libsodium failed to initialise\n");
        gw_config_free(cfg);
        return 1;
    }
    if (mkdir_p(cfg->data_dir) != 0) {
        fprintf(stderr, "gatewayd: data_dir %s: %s\n", cfg->data_dir, strerror(errno));
        gw_config_free(cfg);
        return 1;
    }
    sqlite3 *db = gw_db_open(gw_runtime.db_path, GW_DB_READWRITE, err, sizeof err);
    if (!db || gw_db_migrate(db, err, sizeof err) != 0) {
        fprintf(stderr, "gatewayd: database: %s\n", err);
        sqlite3_close(db);
        gw_config_free(cfg);
        return 1;
    }
    sqlite3_close(db);
    if (gw_runtime_set_config(cfg, err, sizeof err) != 0) { /* owns cfg from here on */
        fprintf(stderr, "gatewayd: %s\n", err);
        return 1;
    }

    int writer = 0, upstream = 0, http = 0, admin = 0;
    if (gw_keys_reload(gw_runtime.db_path, err, sizeof err) != 0 ||
        gw_prompts_reload(gw_runtime.db_path, err, sizeof err) != 0 ||
        gw_rag_reload(gw_runtime.db_path, err, sizeof err) != 0 || /* rag.h */
        !(writer = gw_writer_start(gw_runtime.db_path, err, sizeof err) == 0) ||
        !(upstream = gw_upstream_start_worker(err, sizeof err) == 0) ||
        !(http = gw_http_start(cfg, err, sizeof err) == 0) ||
        !(admin = gw_admin_start(cfg, gw_runtime.db_path, reload_config, err, sizeof err) == 0)) {
        fprintf(stderr, "gatewayd: %s\n", err);
        goto out;
    }
    gw_info("gatewayd %s listening on http://%s:%d (config: %s, data: %s, admin: %s)", GW_VERSION,
            cfg->listen_host, gw_http_port(), cfg->path, cfg->data_dir, cfg->admin_socket);

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (reload_config(err, sizeof err) != 0)
                gw_error("reload refused, keeping the running configuration: %s", err);
            continue;
        }
        gw_info("%s: draining in-flight requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    rc = 0;
    {
        struct gw_cfg_ref *ref = gw_runtime_config_acquire();
        int grace = ref->cfg->shutdown_grace_ms;
        gw_runtime_config_release(ref);
        gw_http_quiesce();
        drain(grace);
    }
out:
    if (admin)
        gw_admin_stop();
    if (upstream)
        gw_upstream_stop_worker();
    if (http)
        gw_http_stop();
    if (writer) {
        struct gw_writer_stats ws;
        gw_writer_stop();
        gw_writer_stats(&ws);
        gw_info("stopped: %lld usage rows written, %lld ring stalls", ws.written, ws.stalls);
    }
    gw_keys_shutdown();
    gw_prompts_shutdown();
    gw_rag_shutdown();
    gw_rl_shutdown();
    gw_runtime_shutdown();
    return rc;
}

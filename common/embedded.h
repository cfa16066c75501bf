/* Files compiled into the binaries (schema migrations, default config);
 * generated from the source tree by scripts/embed.sh. */
#ifndef GW_EMBEDDED_H
#define GW_EMBEDDED_H

struct gw_embedded {
    const char *name; /* file name, e.g. "001_init.sql"; NULL ends a list */
    const char *text;
};

extern const struct gw_embedded gw_schema_files[];
extern const struct gw_embedded gw_default_config_files[];

#endif

/* AWS's binary event-stream encoding (application/vnd.amazon.eventstream),
 * written for the mock alone: CRC-32 (IEEE 802.3, reflected, as zlib's
 * crc32) and the message framing
 *
 *   total length u32 BE | headers length u32 BE | CRC-32 of those 8 bytes
 *   headers: name length u8, name, value type u8 (7 = string),
 *            value length u16 BE, value
 *   payload
 *   CRC-32 of everything before it
 *
 * Pure functions; the table is built on first use under pthread_once. */
#include "mock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void mock_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t mock_crc32(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, mock_crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static unsigned char *mock_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

char *mock_es_frame(const char *const *headers, int nh, const char *payload, size_t plen,
                    bool corrupt, size_t *len)
{
    size_t hlen = 0;
    for (int i = 0; i < nh; i++) {
        size_t kn = strlen(headers[2 * i]), vn = strlen(headers[2 * i + 1]);
        if (kn > 255 || vn > 65535)
            return NULL;
        hlen += 1 + kn + 1 + 2 + vn;
    }
    size_t total = 12 + hlen + plen + 4;
    unsigned char *buf = malloc(total), *p = buf;
    if (!buf)
        return NULL;
    p = mock_put32(p, (uint32_t)total);
    p = mock_put32(p, (uint32_t)hlen);
    p = mock_put32(p, mock_crc32(0, buf, 8));
    for (int i = 0; i < nh; i++) {
        size_t kn = strlen(headers[2 * i]), vn = strlen(headers[2 * i + 1]);
        *p++ = (unsigned char)kn;
        memcpy(p, headers[2 * i], kn);
        p += kn;
        *p++ = 7; /* string */
        *p++ = (unsigned char)(vn >> 8);
        *p++ = (unsigned char)vn;
        memcpy(p, headers[2 * i + 1], vn);
        p += vn;
    }
    memcpy(p, payload, plen);
    p += plen;
    uint32_t crc = mock_crc32(0, buf, (size_t)(p - buf));
    mock_put32(p, corrupt ? crc ^ 0xA5A5A5A5u : crc);
    *len = total;
    return (char *)buf;
}

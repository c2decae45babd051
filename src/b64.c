/* b64: base64 encode and strict decode (see b64.h). */
#include "b64.h"

#include <errno.h>

static const char alphabet[2][65] = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
};

size_t b64_len(enum b64_form form, size_t n)
{
    if (form == B64_STD) return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

int b64_encode(enum b64_form form, const uint8_t *in, size_t n, char *out, size_t out_len)
{
    const char *a = alphabet[form == B64_URL];
    size_t need = b64_len(form, n);
    if (need >= out_len || need > INT32_MAX) return -ENOSPC;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    if (i < n) {
        bool two = n - i == 2;
        uint32_t v = (uint32_t)in[i] << 16 | (two ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = a[v >> 18];
        out[o++] = a[v >> 12 & 63];
        if (two) out[o++] = a[v >> 6 & 63];
        if (form == B64_STD) {
            if (!two) out[o++] = '=';
            out[o++] = '=';
        }
    }
    out[o] = '\0';
    return (int)o;
}

static int value(enum b64_form form, unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (form == B64_URL ? '-' : '+')) return 62;
    if (c == (form == B64_URL ? '_' : '/')) return 63;
    return -1;
}

bool b64_is_char(enum b64_form form, char c)
{
    return value(form, (unsigned char)c) >= 0;
}

int b64_decode(enum b64_form form, const char *in, size_t n, uint8_t *out, size_t out_len)
{
    size_t pad = 0;
    if (form == B64_STD) {
        while (n > 0 && in[n - 1] == '=' && pad < 2) {
            n--;
            pad++;
        }
        if (pad && (n + pad) % 4 != 0) return -1;
    }
    if (n % 4 == 1 || n / 4 * 3 > INT32_MAX) return -1;
    size_t bytes = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (bytes > out_len) return -ENOSPC;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = value(form, (unsigned char)in[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* one text, one decoding: the bits past the last byte must be zero */
    if (acc != 0) return -1;
    return (int)o;
}

/* b64: base64 (RFC 4648) in its two forms the server speaks.
 *
 *   B64_STD  "+/" with '=' padding: HTTP Basic credentials (decode) and
 *            Sec-WebSocket-Accept (encode).
 *   B64_URL  "-_" unpadded: ids, keys, tokens and tickets in URLs.
 *
 * Decoding is strict, because its input comes from the network: only the
 * form's characters, padding (B64_STD only, optional) only at the end, and
 * unused bits zero, so one text has exactly one decoding. */
#ifndef PODIUM_B64_H
#define PODIUM_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum b64_form { B64_STD, B64_URL };

/* b64_len: characters b64_encode writes for <n> bytes (without the NUL). */
size_t b64_len(enum b64_form form, size_t n);

/* b64_is_char: <c> is one of the form's 64 characters (not '='). */
bool b64_is_char(enum b64_form form, char c);

/* b64_encode: <n> bytes as text plus a NUL into out[out_len]. Returns the
 * characters written, or -ENOSPC. */
int b64_encode(enum b64_form form, const uint8_t *in, size_t n, char *out, size_t out_len);

/* b64_decode: <n> characters into out[out_len]. Returns the bytes written,
 * -1 for a malformed text, or -ENOSPC. */
int b64_decode(enum b64_form form, const char *in, size_t n, uint8_t *out, size_t out_len);

#endif

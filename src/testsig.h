/* testsig: the built-in test-signal speaker for the demo mount.
 *
 * A thread synthesises a gentle tone sequence in real time, encodes it with
 * libopus (48 kHz mono, 32 kbit/s, 20 ms frames) and writes an Ogg stream
 * into a socketpair whose other end the server adopts as an ordinary source:
 * the demo takes exactly the ingest path ffmpeg does. Nothing is downloaded.
 */
#ifndef PODIUM_TESTSIG_H
#define PODIUM_TESTSIG_H

struct testsig;

/* testsig_start: starts the thread. *server_fd receives the socket end the
 * server reads. NULL on failure (errno set). */
struct testsig *testsig_start(int *server_fd);

/* testsig_stop: stops and joins the thread, frees everything. */
void testsig_stop(struct testsig *t);

#endif

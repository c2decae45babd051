/* test_storm_play: the playback-buffer stall model on an injected clock. */
#include "play.h"
#include "t.h"

#define MS 1000ull

static void test_steady_stream_never_stalls(void)
{
    struct play p;
    play_init(&p);
    uint64_t t = 1000000 * MS;
    play_audio(&p, t, 1000 * MS); /* 1 s burst */
    for (int i = 1; i <= 100; i++) {
        t += 100 * MS;
        CHECK(!play_check(&p, t));
        play_audio(&p, t, 100 * MS);
    }
    CHECK_EQ(p.stalls, 0);
    CHECK(play_buffered_us(&p, t) >= 900 * MS);
}

static void test_pause_longer_than_buffer_stalls_once(void)
{
    struct play p;
    play_init(&p);
    uint64_t t = 5 * MS;
    play_audio(&p, t, 1000 * MS);
    /* The source pauses 3 s: the buffer runs dry at +1 s, stall past +2 s. */
    CHECK(!play_check(&p, t + 1500 * MS));
    CHECK(!play_check(&p, t + 2000 * MS));
    CHECK(play_check(&p, t + 2100 * MS));
    CHECK(!play_check(&p, t + 2900 * MS)); /* the same stall, not a new one */
    CHECK(play_audio(&p, t + 3000 * MS, 3000 * MS));
    CHECK_EQ(p.stalls, 1);
    CHECK_EQ(p.stall_ms, 2000);
    /* playback resumed: 3 s buffered now, nothing stalls for a while */
    CHECK(!play_check(&p, t + 5500 * MS));
    CHECK_EQ(play_buffered_us(&p, t + 5000 * MS), 1000 * MS);
}

static void test_short_gap_is_not_a_stall(void)
{
    struct play p;
    play_init(&p);
    play_audio(&p, 0 + 1, 200 * MS);
    /* empty from 200 ms to 1.1 s: 900 ms, under the 1 s threshold */
    CHECK(!play_check(&p, 1100 * MS));
    CHECK(!play_audio(&p, 1100 * MS, 200 * MS));
    CHECK_EQ(p.stalls, 0);
    /* a stall first seen on arrival (no sweep ran in between) still counts */
    play_audio(&p, 4000 * MS, 100 * MS);
    CHECK_EQ(p.stalls, 1);
}

int main(void)
{
    T_RUN(test_steady_stream_never_stalls);
    T_RUN(test_pause_longer_than_buffer_stalls_once);
    T_RUN(test_short_gap_is_not_a_stall);
    T_DONE();
}

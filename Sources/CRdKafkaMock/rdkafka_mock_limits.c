/*
 * Guarded lift of the mock cluster's per-partition retention limits.
 * The reasoning, every check and the race argument are in docs/embedded-broker.md.
 *
 * The structs below mirror private layouts of librdkafka 2.0.0, 2.0.1 and 2.0.2
 * (src/rdkafka_mock_int.h and src/rdlist.h are identical across those three tags).
 * They are written from the field lists, not copied; only the fields this file reads or
 * writes matter, every other field exists to keep the offsets and the array stride right.
 */

#include "rdkafka_mock_limits.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

/* rd_bool_t is an int in librdkafka (src/rdtypes.h). */
typedef int mirror_bool_t;

/* rd_list_t (src/rdlist.h): embedded by value in the partition, so its size sets the stride. */
typedef struct mirror_list {
    int rl_size;
    int rl_cnt;
    void **rl_elems;
    void (*rl_free_cb)(void *);
    int rl_flags;
    int rl_elemsize;
    void *rl_p;
} mirror_list_t;

/* Only the link and id of rd_kafka_mock_broker_s are read. */
struct mirror_broker {
    TAILQ_ENTRY(mirror_broker) link;
    int32_t id;
};

struct mirror_msgset;
struct mirror_committed_offset;
struct mirror_topic;

/* rd_kafka_mock_partition_s, complete: topics hold an array of these. */
typedef struct mirror_partition {
    TAILQ_ENTRY(mirror_partition) leader_link;
    int32_t id;
    int64_t start_offset;
    int64_t end_offset;
    int64_t follower_start_offset;
    int64_t follower_end_offset;
    mirror_bool_t update_follower_start_offset;
    mirror_bool_t update_follower_end_offset;
    TAILQ_HEAD(, mirror_msgset) msgsets;
    size_t size;
    size_t cnt;
    size_t max_size;
    size_t max_cnt;
    TAILQ_HEAD(, mirror_committed_offset) committed_offsets;
    void *leader;
    void **replicas;
    int replica_cnt;
    mirror_list_t pidstates;
    int32_t follower_id;
    struct mirror_topic *topic;
} mirror_partition_t;

/* rd_kafka_mock_topic_s, complete. */
typedef struct mirror_topic {
    TAILQ_ENTRY(mirror_topic) link;
    char *name;
    mirror_partition_t *partitions;
    int partition_cnt;
    rd_kafka_resp_err_t err;
    void *cluster;
} mirror_topic_t;

/* The prefix of rd_kafka_mock_cluster_s up to and including topic_cnt. */
typedef struct mirror_cluster {
    char id[32];
    rd_kafka_t *rk;
    int32_t controller_id;
    TAILQ_HEAD(, mirror_broker) brokers;
    int broker_cnt;
    TAILQ_HEAD(, mirror_topic) topics;
    int topic_cnt;
} mirror_cluster_t;

#if defined(__x86_64__) || defined(__aarch64__)
/* The LP64 offsets these mirrors imply; a change here means the mirror itself was edited. */
_Static_assert(sizeof(mirror_list_t) == 40, "rd_list_t mirror size");
_Static_assert(offsetof(mirror_partition_t, max_size) == 96, "partition.max_size offset");
_Static_assert(offsetof(mirror_partition_t, max_cnt) == 104, "partition.max_cnt offset");
_Static_assert(offsetof(mirror_partition_t, topic) == 200, "partition.topic offset");
_Static_assert(sizeof(mirror_partition_t) == 208, "partition stride");
_Static_assert(offsetof(mirror_topic_t, cluster) == 40, "topic.cluster offset");
_Static_assert(offsetof(mirror_cluster_t, topics) == 72, "cluster.topics offset");
_Static_assert(offsetof(mirror_cluster_t, topic_cnt) == 88, "cluster.topic_cnt offset");
#endif

/* The values rd_kafka_mock_partition_init() sets in 2.0.x. */
#define STOCK_MAX_SIZE ((size_t)1024 * 1024 * 5)
#define STOCK_MAX_CNT ((size_t)100000)
#define LIFTED ((size_t)SIZE_MAX)

#define MAX_TOPICS 100000
#define MAX_PARTITIONS 100000
#define MAX_NAME_LEN 249 /* Kafka's own topic name limit */
#define ATTEMPTS 3

static void report_reset(recstream_mock_limits_report_t *report) {
    memset(report, 0, sizeof(*report));
}

static int refuse(recstream_mock_limits_report_t *report, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report->reason, sizeof(report->reason), fmt, ap);
    va_end(ap);
    report->status = RECSTREAM_MOCK_LIMITS_REFUSED;
    report->partitions_lifted = 0;
    return RECSTREAM_MOCK_LIMITS_REFUSED;
}

/* Layouts were compared for these releases only (final releases, not release candidates). */
static int version_is_mirrored(int version) {
    return version == 0x020000ff || version == 0x020001ff || version == 0x020002ff;
}

/* The mock thread appends to lists while this code walks them: read links with acquire. */
static mirror_topic_t *first_topic(const mirror_cluster_t *mc) {
    return __atomic_load_n(&mc->topics.tqh_first, __ATOMIC_ACQUIRE);
}

static mirror_topic_t *next_topic(const mirror_topic_t *t) {
    return __atomic_load_n(&t->link.tqe_next, __ATOMIC_ACQUIRE);
}

static int limit_is_known(size_t value, size_t stock) {
    return value == stock || value == LIFTED;
}

/*
 * Every check, in an order where each pointer is dereferenced only after the fields that lead
 * to it have matched. Writes nothing. On success report->topics_checked holds how many topics
 * (from the head of the list) were verified; only those may be written.
 */
static int check_layout(const mirror_cluster_t *mc, const void *mcluster_address, rd_kafka_t *accessor_rk,
                        rd_kafka_t *owner_rk, int expected_broker_cnt, int runtime_version,
                        recstream_mock_limits_report_t *report) {
    report_reset(report);

    if (!version_is_mirrored(runtime_version))
        return refuse(report,
                      "version: librdkafka 0x%08x is not a 2.0.0-2.0.2 release whose mock layout is mirrored",
                      (unsigned)runtime_version);

    if (accessor_rk != owner_rk)
        return refuse(report, "cluster.rk: rd_kafka_mock_cluster_handle() does not return the owning handle");
    if (mc->rk != owner_rk)
        return refuse(report, "cluster.rk: mirrored field does not equal rd_kafka_mock_cluster_handle()");

    if (memchr(mc->id, '\0', sizeof(mc->id)) == NULL || strncmp(mc->id, "mockCluster", 11) != 0)
        return refuse(report, "cluster.id: not a NUL-terminated \"mockCluster...\" string");

    if (mc->broker_cnt != expected_broker_cnt)
        return refuse(report, "cluster.broker_cnt: %d, expected %d", mc->broker_cnt, expected_broker_cnt);

    {
        int walked = 0;
        const struct mirror_broker *b;
        for (b = __atomic_load_n(&mc->brokers.tqh_first, __ATOMIC_ACQUIRE); b != NULL && walked <= expected_broker_cnt;
             b = __atomic_load_n(&b->link.tqe_next, __ATOMIC_ACQUIRE)) {
            walked++;
            if (b->id != walked)
                return refuse(report, "broker[%d].id: %d, expected %d", walked - 1, (int)b->id, walked);
        }
        if (walked != expected_broker_cnt)
            return refuse(report, "cluster.brokers: list has %s%d entries, broker_cnt is %d",
                          walked > expected_broker_cnt ? "more than " : "", walked, expected_broker_cnt);
    }

    {
        const int count_before = __atomic_load_n(&mc->topic_cnt, __ATOMIC_ACQUIRE);
        const mirror_topic_t *t;
        size_t walked = 0;
        size_t partitions = 0;

        if (count_before < 0 || count_before > MAX_TOPICS)
            return refuse(report, "cluster.topic_cnt: %d is outside 0...%d", count_before, MAX_TOPICS);

        for (t = first_topic(mc); t != NULL; t = next_topic(t)) {
            int i;
            size_t name_len;

            if (walked >= (size_t)count_before)
                return refuse(report, "cluster.topics: list is longer than topic_cnt %d", count_before);

            if (t->cluster != mcluster_address)
                return refuse(report, "topic[%zu].cluster: back-pointer does not equal the cluster", walked);

            if (t->partition_cnt < 1 || t->partition_cnt > MAX_PARTITIONS)
                return refuse(report, "topic[%zu].partition_cnt: %d is outside 1...%d", walked, t->partition_cnt,
                              MAX_PARTITIONS);

            if (t->name == NULL)
                return refuse(report, "topic[%zu].name: NULL", walked);
            name_len = strnlen(t->name, MAX_NAME_LEN + 1);
            if (name_len == 0 || name_len > MAX_NAME_LEN)
                return refuse(report, "topic[%zu].name: not a NUL-terminated string of 1...%d bytes", walked,
                              MAX_NAME_LEN);

            if (t->partitions == NULL)
                return refuse(report, "topic %s: partitions array is NULL", t->name);

            for (i = 0; i < t->partition_cnt; i++) {
                const mirror_partition_t *p = &t->partitions[i];
                const size_t max_size = __atomic_load_n(&p->max_size, __ATOMIC_RELAXED);
                const size_t max_cnt = __atomic_load_n(&p->max_cnt, __ATOMIC_RELAXED);
                if (p->id != i)
                    return refuse(report, "topic %s partition[%d].id: %d", t->name, i, (int)p->id);
                if (p->topic != t)
                    return refuse(report, "topic %s partition[%d].topic: back-pointer does not equal the topic",
                                  t->name, i);
                if (!limit_is_known(max_size, STOCK_MAX_SIZE))
                    return refuse(report, "topic %s partition[%d].max_size: %zu is neither 5 MiB nor lifted",
                                  t->name, i, max_size);
                if (!limit_is_known(max_cnt, STOCK_MAX_CNT))
                    return refuse(report, "topic %s partition[%d].max_cnt: %zu is neither 100000 nor lifted",
                                  t->name, i, max_cnt);
            }
            partitions += (size_t)t->partition_cnt;
            walked++;
        }

        {
            const int count_after = __atomic_load_n(&mc->topic_cnt, __ATOMIC_ACQUIRE);
            if (count_after != count_before || walked != (size_t)count_before)
                return refuse(report, "cluster.topic_cnt: %d (then %d) but the topics list has %zu entries",
                              count_before, count_after, walked);
        }

        report->topics_checked = walked;
        report->partitions_checked = partitions;
    }

    report->status = RECSTREAM_MOCK_LIMITS_OK;
    return RECSTREAM_MOCK_LIMITS_OK;
}

/* Writes only the topics check_layout() verified (the first report->topics_checked). */
static void lift_checked(const mirror_cluster_t *mc, recstream_mock_limits_report_t *report) {
    mirror_topic_t *t;
    size_t done = 0;
    for (t = first_topic(mc); t != NULL && done < report->topics_checked; t = next_topic(t), done++) {
        int i;
        for (i = 0; i < t->partition_cnt; i++) {
            mirror_partition_t *p = &t->partitions[i];
            int lifted = 0;
            /* Aligned size_t stores: the mock thread reads either the old or the new value. */
            if (__atomic_load_n(&p->max_size, __ATOMIC_RELAXED) != LIFTED) {
                __atomic_store_n(&p->max_size, LIFTED, __ATOMIC_RELAXED);
                lifted = 1;
            }
            if (__atomic_load_n(&p->max_cnt, __ATOMIC_RELAXED) != LIFTED) {
                __atomic_store_n(&p->max_cnt, LIFTED, __ATOMIC_RELAXED);
                lifted = 1;
            }
            report->partitions_lifted += (size_t)lifted;
        }
    }
}

static void pause_one_millisecond(void) {
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
}

static int guarded_lift(const mirror_cluster_t *mc, const void *mcluster_address, rd_kafka_t *accessor_rk,
                        rd_kafka_t *owner_rk, int expected_broker_cnt, int runtime_version,
                        recstream_mock_limits_report_t *report) {
    int attempt;
    for (attempt = 1; attempt <= ATTEMPTS; attempt++) {
        if (check_layout(mc, mcluster_address, accessor_rk, owner_rk, expected_broker_cnt, runtime_version, report) ==
            RECSTREAM_MOCK_LIMITS_OK) {
            lift_checked(mc, report);
            return RECSTREAM_MOCK_LIMITS_OK;
        }
        /* A topic being linked in by the mock thread can show a transient count mismatch. */
        if (attempt < ATTEMPTS)
            pause_one_millisecond();
    }
    return report->status;
}

int recstream_mock_limits_lift(void *mock_cluster, void *owner_rk, int expected_broker_cnt,
                               recstream_mock_limits_report_t *report) {
    rd_kafka_mock_cluster_t *mcluster = mock_cluster;
    report_reset(report);
    if (mcluster == NULL || owner_rk == NULL)
        return refuse(report, "arguments: NULL cluster or handle");
    return guarded_lift((const mirror_cluster_t *)mcluster, mcluster, rd_kafka_mock_cluster_handle(mcluster),
                        owner_rk, expected_broker_cnt, rd_kafka_version(), report);
}

int recstream_mock_limits_read(void *mock_cluster, void *owner_rk, int expected_broker_cnt, const char *topic,
                               int32_t partition, size_t *max_size, size_t *max_cnt,
                               recstream_mock_limits_report_t *report) {
    rd_kafka_mock_cluster_t *mcluster = mock_cluster;
    const mirror_cluster_t *mc = (const mirror_cluster_t *)mcluster;
    const mirror_topic_t *t;
    size_t seen = 0;

    report_reset(report);
    if (mcluster == NULL || owner_rk == NULL || topic == NULL)
        return refuse(report, "arguments: NULL cluster, handle or topic");
    if (check_layout(mc, mcluster, rd_kafka_mock_cluster_handle(mcluster), owner_rk, expected_broker_cnt,
                     rd_kafka_version(), report) != RECSTREAM_MOCK_LIMITS_OK)
        return report->status;

    for (t = first_topic(mc); t != NULL && seen < report->topics_checked; t = next_topic(t), seen++) {
        if (strcmp(t->name, topic) != 0)
            continue;
        if (partition < 0 || partition >= t->partition_cnt)
            return refuse(report, "topic %s has no partition %d", topic, (int)partition);
        *max_size = __atomic_load_n(&t->partitions[partition].max_size, __ATOMIC_RELAXED);
        *max_cnt = __atomic_load_n(&t->partitions[partition].max_cnt, __ATOMIC_RELAXED);
        return RECSTREAM_MOCK_LIMITS_OK;
    }
    return refuse(report, "topic %s not found", topic);
}

/* ---- testing entry point: the same guard run on a corrupted private copy ---- */

typedef struct copy_state {
    mirror_cluster_t cluster;
    mirror_topic_t **topics;
    mirror_partition_t **snapshots; /* partition arrays as they were before the lift ran */
    size_t topic_cnt;
} copy_state_t;

static void copy_free(copy_state_t *cs) {
    size_t i;
    for (i = 0; i < cs->topic_cnt; i++) {
        if (cs->topics[i] != NULL) {
            free(cs->topics[i]->name);
            free(cs->topics[i]->partitions);
            free(cs->topics[i]);
        }
        if (cs->snapshots != NULL)
            free(cs->snapshots[i]);
    }
    free(cs->topics);
    free(cs->snapshots);
}

/* Deep-copies topics and partition arrays; back-pointers are rewired to the copies. */
static int copy_cluster(const mirror_cluster_t *live, size_t topic_cnt, copy_state_t *cs) {
    const mirror_topic_t *t;
    size_t i = 0;

    memset(cs, 0, sizeof(*cs));
    memcpy(&cs->cluster, live, sizeof(cs->cluster));
    TAILQ_INIT(&cs->cluster.topics);
    cs->topics = calloc(topic_cnt ? topic_cnt : 1, sizeof(*cs->topics));
    if (cs->topics == NULL)
        return -1;

    for (t = first_topic(live); t != NULL && i < topic_cnt; t = next_topic(t), i++) {
        mirror_topic_t *c = calloc(1, sizeof(*c));
        int p;
        if (c == NULL)
            return -1;
        cs->topics[i] = c;
        cs->topic_cnt = i + 1;
        memcpy(c, t, sizeof(*c));
        c->name = strdup(t->name);
        c->partitions = malloc((size_t)t->partition_cnt * sizeof(mirror_partition_t));
        if (c->name == NULL || c->partitions == NULL)
            return -1;
        memcpy(c->partitions, t->partitions, (size_t)t->partition_cnt * sizeof(mirror_partition_t));
        for (p = 0; p < t->partition_cnt; p++)
            c->partitions[p].topic = c;
        c->cluster = &cs->cluster;
        TAILQ_INSERT_TAIL(&cs->cluster.topics, c, link);
    }
    cs->cluster.topic_cnt = (int)cs->topic_cnt;
    return 0;
}

static int apply_corruption(copy_state_t *cs, int corruption, void *live_cluster, int *broker_cnt, int *version,
                            recstream_mock_limits_report_t *report) {
    mirror_topic_t *first = cs->topic_cnt > 0 ? cs->topics[0] : NULL;
    const int needs_topic = corruption >= RECSTREAM_MOCK_CORRUPT_TOPIC_CLUSTER;

    if (needs_topic && (first == NULL || first->partition_cnt < 1))
        return refuse(report, "testing: corruption %d needs a topic with at least one partition", corruption);

    switch (corruption) {
    case RECSTREAM_MOCK_CORRUPT_NONE:
        break;
    case RECSTREAM_MOCK_CORRUPT_VERSION:
        *version = 0x020100ff;
        break;
    case RECSTREAM_MOCK_CORRUPT_BROKER_COUNT:
        *broker_cnt += 1;
        break;
    case RECSTREAM_MOCK_CORRUPT_CLUSTER_HANDLE:
        cs->cluster.rk = (rd_kafka_t *)(uintptr_t)0x10;
        break;
    case RECSTREAM_MOCK_CORRUPT_TOPIC_COUNT:
        cs->cluster.topic_cnt += 1;
        break;
    case RECSTREAM_MOCK_CORRUPT_TOPIC_CLUSTER:
        first->cluster = live_cluster;
        break;
    case RECSTREAM_MOCK_CORRUPT_TOPIC_NAME: {
        char *unterminated = malloc(MAX_NAME_LEN + 51);
        if (unterminated == NULL)
            return refuse(report, "testing: out of memory");
        memset(unterminated, 'x', MAX_NAME_LEN + 50);
        unterminated[MAX_NAME_LEN + 50] = '\0'; /* terminated only far past the limit */
        free(first->name);
        first->name = unterminated;
        break;
    }
    case RECSTREAM_MOCK_CORRUPT_PARTITION_COUNT:
        first->partition_cnt = 0;
        break;
    case RECSTREAM_MOCK_CORRUPT_PARTITION_ID:
        first->partitions[first->partition_cnt - 1].id += 7;
        break;
    case RECSTREAM_MOCK_CORRUPT_PARTITION_TOPIC:
        first->partitions[0].topic = NULL;
        break;
    case RECSTREAM_MOCK_CORRUPT_PARTITION_LIMITS:
        first->partitions[0].max_size = 4096;
        break;
    default:
        return refuse(report, "testing: unknown corruption %d", corruption);
    }
    return RECSTREAM_MOCK_LIMITS_OK;
}

int recstream_mock_limits_testing_lift_corrupted_copy(void *mock_cluster, void *owner_rk, int expected_broker_cnt,
                                                      int corruption, recstream_mock_limits_report_t *report,
                                                      int *copy_unchanged) {
    rd_kafka_mock_cluster_t *mcluster = mock_cluster;
    const mirror_cluster_t *live = (const mirror_cluster_t *)mcluster;
    copy_state_t cs;
    int broker_cnt = expected_broker_cnt;
    int version = rd_kafka_version();
    size_t i;
    int rc;

    report_reset(report);
    *copy_unchanged = 0;
    if (mcluster == NULL || owner_rk == NULL)
        return refuse(report, "arguments: NULL cluster or handle");

    /* The live cluster must pass unmodified before it is copied. */
    if (check_layout(live, mcluster, rd_kafka_mock_cluster_handle(mcluster), owner_rk, expected_broker_cnt, version,
                     report) != RECSTREAM_MOCK_LIMITS_OK) {
        char reason[sizeof(report->reason)];
        memcpy(reason, report->reason, sizeof(reason));
        return refuse(report, "testing: live cluster refused before copying: %s", reason);
    }

    if (copy_cluster(live, report->topics_checked, &cs) != 0) {
        copy_free(&cs);
        return refuse(report, "testing: out of memory while copying");
    }

    if (apply_corruption(&cs, corruption, mcluster, &broker_cnt, &version, report) != RECSTREAM_MOCK_LIMITS_OK) {
        copy_free(&cs);
        return report->status;
    }

    cs.snapshots = calloc(cs.topic_cnt ? cs.topic_cnt : 1, sizeof(*cs.snapshots));
    if (cs.snapshots == NULL) {
        copy_free(&cs);
        return refuse(report, "testing: out of memory");
    }
    for (i = 0; i < cs.topic_cnt; i++) {
        const size_t bytes = (size_t)cs.topics[i]->partition_cnt * sizeof(mirror_partition_t);
        cs.snapshots[i] = malloc(bytes ? bytes : 1);
        if (cs.snapshots[i] == NULL) {
            copy_free(&cs);
            return refuse(report, "testing: out of memory");
        }
        memcpy(cs.snapshots[i], cs.topics[i]->partitions, bytes);
    }

    /* The handle accessor reads the copy through librdkafka's own layout, as for the live cluster. */
    rc = guarded_lift(&cs.cluster, &cs.cluster, rd_kafka_mock_cluster_handle((rd_kafka_mock_cluster_t *)&cs.cluster),
                      owner_rk, broker_cnt, version, report);

    *copy_unchanged = 1;
    for (i = 0; i < cs.topic_cnt; i++) {
        const size_t bytes = (size_t)cs.topics[i]->partition_cnt * sizeof(mirror_partition_t);
        if (memcmp(cs.snapshots[i], cs.topics[i]->partitions, bytes) != 0)
            *copy_unchanged = 0;
    }

    copy_free(&cs);
    return rc;
}

#ifndef RECSTREAM_RDKAFKA_MOCK_LIMITS_H
#define RECSTREAM_RDKAFKA_MOCK_LIMITS_H

/*
 * Guarded access to the per-partition retention limits of librdkafka's mock cluster.
 *
 * librdkafka 2.0.x keeps at most 5 MiB or 100,000 message sets per mock partition and
 * silently frees older ones; there is no public setting. These functions mirror the private
 * layout of 2.0.0-2.0.2 (src/rdkafka_mock_int.h), check it field by field, and only then
 * raise both limits to SIZE_MAX. On any mismatch nothing is written and the report names
 * the failed check. See docs/embedded-broker.md.
 *
 * Handles are passed as `void *` so that this header does not re-declare librdkafka's types
 * (module CRdKafka owns them): `mock_cluster` is an rd_kafka_mock_cluster_t *, `owner_rk`
 * the rd_kafka_t * it was created on.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Outcome of a guarded operation. */
typedef enum recstream_mock_limits_status {
    /** Every check passed (and, for a lift, every partition now has unbounded limits). */
    RECSTREAM_MOCK_LIMITS_OK = 0,
    /** A check failed; nothing was written. `reason` names the check. */
    RECSTREAM_MOCK_LIMITS_REFUSED = 1,
} recstream_mock_limits_status_t;

/** What a guarded call saw and did. */
typedef struct recstream_mock_limits_report {
    int status;                /**< a recstream_mock_limits_status_t */
    size_t topics_checked;     /**< topics that passed every check */
    size_t partitions_checked; /**< partitions that passed every check */
    size_t partitions_lifted;  /**< partitions whose limits this call raised (0 when refused) */
    char reason[256];          /**< NUL-terminated; empty when status is OK */
} recstream_mock_limits_report_t;

/**
 * Checks the mirrored layout of `mock_cluster` and, when every check passes, raises
 * max_size and max_cnt of every partition of every topic to SIZE_MAX.
 *
 * `expected_broker_cnt` is the broker count the cluster was created with. Safe to call while
 * the mock thread runs (see docs/embedded-broker.md for the race reasoning); a mismatch is
 * re-checked up to three times, 1 ms apart, before the call refuses.
 *
 * @returns RECSTREAM_MOCK_LIMITS_OK or RECSTREAM_MOCK_LIMITS_REFUSED (also in report->status).
 */
int recstream_mock_limits_lift(void *mock_cluster, void *owner_rk, int expected_broker_cnt,
                               recstream_mock_limits_report_t *report);

/**
 * Runs the same checks without writing, then reads the limits of one partition.
 * For tests and diagnostics.
 *
 * @returns RECSTREAM_MOCK_LIMITS_REFUSED when a check fails or the partition does not exist.
 */
int recstream_mock_limits_read(void *mock_cluster, void *owner_rk, int expected_broker_cnt,
                               const char *topic, int32_t partition, size_t *max_size, size_t *max_cnt,
                               recstream_mock_limits_report_t *report);

/** A deliberate corruption applied to a private copy by the testing entry point. */
typedef enum recstream_mock_limits_corruption {
    RECSTREAM_MOCK_CORRUPT_NONE = 0,
    RECSTREAM_MOCK_CORRUPT_VERSION,          /**< pretend the runtime is librdkafka 2.1.0 */
    RECSTREAM_MOCK_CORRUPT_BROKER_COUNT,     /**< expect one broker more than requested */
    RECSTREAM_MOCK_CORRUPT_CLUSTER_HANDLE,   /**< cluster->rk points elsewhere */
    RECSTREAM_MOCK_CORRUPT_TOPIC_COUNT,      /**< topic_cnt one higher than the list */
    RECSTREAM_MOCK_CORRUPT_TOPIC_CLUSTER,    /**< first topic's cluster back-pointer elsewhere */
    RECSTREAM_MOCK_CORRUPT_TOPIC_NAME,       /**< first topic's name not terminated in time */
    RECSTREAM_MOCK_CORRUPT_PARTITION_COUNT,  /**< first topic has 0 partitions */
    RECSTREAM_MOCK_CORRUPT_PARTITION_ID,     /**< last partition of the first topic has a wrong id */
    RECSTREAM_MOCK_CORRUPT_PARTITION_TOPIC,  /**< first partition's topic back-pointer elsewhere */
    RECSTREAM_MOCK_CORRUPT_PARTITION_LIMITS, /**< first partition has max_size 4096 */
} recstream_mock_limits_corruption_t;

/**
 * Testing entry point: copies the cluster prefix, every topic and every partition array of
 * `mock_cluster` into private memory (the live cluster is only read), applies `corruption`
 * to the copy, runs the guarded lift on the copy, and reports whether the copy's bytes are
 * unchanged afterwards (`*copy_unchanged` = 1).
 *
 * Call it only while no client is producing to or creating topics on the cluster.
 * The live cluster is never written.
 */
int recstream_mock_limits_testing_lift_corrupted_copy(void *mock_cluster, void *owner_rk,
                                                      int expected_broker_cnt, int corruption,
                                                      recstream_mock_limits_report_t *report,
                                                      int *copy_unchanged);

#ifdef __cplusplus
}
#endif

#endif

#ifndef RECSTREAM_CRDKAFKA_SHIM_H
#define RECSTREAM_CRDKAFKA_SHIM_H
// The only door to librdkafka (Debian package librdkafka-dev). RecstreamKafka is its one importer.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif

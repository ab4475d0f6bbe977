#ifndef RECSTREAM_CROCKSDB_SHIM_H
#define RECSTREAM_CROCKSDB_SHIM_H
// The only door to RocksDB's C API (Debian package librocksdb-dev). RecstreamStorage is its one importer.
#include <rocksdb/c.h>
#endif

#include "rdkafka_mock_limits.h"

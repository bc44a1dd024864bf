/* SPDX-License-Identifier: MIT */
/* CPython Lib/test/test_asyncio/test_futures2.py, ported (see conformance.h). */
#define CONF_FILE "test_futures2"
#include "conformance.h"

CONF_MAIN()

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# packaging_spdx: every source file carries its SPDX license identifier
# (scripts/spdx.sh check; `scripts/spdx.sh add` fixes a failure).
set -u
exec bash "${CIO_SOURCE_DIR:?}/scripts/spdx.sh" check

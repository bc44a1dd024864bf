# SPDX-License-Identifier: MIT
# cio — thin wrapper over CMake + CTest. `make help` lists the targets.
#
#   make            build/ : libcio.a, libcio.so, examples, tests, benchmarks (-O2 -g)
#   make test       the suite three times: build/ (plain), build-asan/ (ASan+UBSan),
#                   build-ucontext/ (CIO_CONTEXT=ucontext); fails if any run fails
#   make test T=NAME  one test in each flavour: a RUN_TASK_TEST or conformance case
#                   (only its program is built, and run as `test_x NAME`), or else
#                   the CTest tests matching NAME (ctest -R NAME)
#   make demo       build, then run $(DEMO)
#   make bench      install peers if possible, build, run every bench/*.sh
#   make fuzz       build-fuzz/ (clang, libFuzzer, ASan+UBSan): runs every fuzz/*.c
#                   target for FUZZ_SECONDS (60) each, seeded from fuzz/corpus/NAME
#   make install    PREFIX=/usr/local (DESTDIR honoured)
#   make clean
#
# Knobs: JOBS (compile jobs), CTEST_JOBS (2), TEST_TIMEOUT (120 s per test),
# CTEST_ARGS (e.g. CTEST_ARGS='-R test_timer'), FLAVORS (e.g. FLAVORS=release
# for a quick `make test`), CMAKE_ARGS (extra -D options for every build dir),
# WERROR (ON: this Makefile is the developers' and CI's way in, so warnings
# fail the build; CMake's own default is OFF, for people building the library).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all
MAKEFLAGS += --no-print-directory

# The command `make demo` runs: the crawler over a generated 3000-page site.
DEMO ?= $(BUILD)/examples/cio-crawl --demo 3000

PREFIX       ?= /usr/local
DESTDIR      ?=
JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS   ?= 2
TEST_TIMEOUT ?= 120
CTEST_ARGS   ?=
CMAKE_ARGS   ?=
WERROR       ?= ON
FLAVORS      ?= release asan ucontext
CMAKE        ?= cmake
CTEST        ?= ctest

BUILD := build

# One build directory per flavour, each with its own CMake options.
DIR_release   := $(BUILD)
DIR_asan      := build-asan
DIR_ucontext  := build-ucontext
DIR_tsan      := build-tsan
DIR_fuzz      := build-fuzz
OPTS_release  :=
OPTS_asan     := -DCIO_SANITIZE=address,undefined
OPTS_ucontext := -DCIO_CONTEXT=ucontext
OPTS_tsan     := -DCIO_SANITIZE=thread
OPTS_fuzz     := -DCMAKE_C_COMPILER=clang -DCIO_FUZZ=ON -DCIO_SANITIZE=address,undefined \
                 -DCIO_BUILD_TESTS=OFF -DCIO_BUILD_EXAMPLES=OFF -DCIO_BUILD_BENCH=OFF
ALL_FLAVORS   := release asan ucontext tsan fuzz
FUZZ_SECONDS ?= 60

# Configure (cheap when nothing changed; re-applies the flavour's options so a
# stale cache can't silently build the wrong thing), then build. Under `make -jN`
# the CMake-generated makefiles share our jobserver instead of --parallel.
# $(call cmake_build,FLAVOUR[,TARGET]): everything, or only TARGET.
define cmake_build
	@bash scripts/deps.sh
	@$(CMAKE) -S . -B $(DIR_$(1)) --log-level=WARNING -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DCIO_TEST_TIMEOUT=$(TEST_TIMEOUT) -DCIO_WERROR=$(WERROR) $(OPTS_$(1)) $(CMAKE_ARGS) >/dev/null
	+$(CMAKE) --build $(DIR_$(1)) $(if $(2),--target $(2)) $(if $(findstring jobserver,$(MAKEFLAGS)),,--parallel $(JOBS))
endef

# `make test T=NAME`: the programs with RUN_TASK_TEST(NAME) (or RUN_TEST,
# RUN_RING_TEST..., check_selected("NAME"): tests/lib/select.h), every one
# of them where several have a test of that name, or with the conformance
# case CONF_TASK/CONF_PLAIN(NAME) (method name, "Class__" prefix optional);
# empty when NAME is neither (then it is a CTest -R expression).
T ?=
ifneq ($(T),)
T_PROG := $(basename $(notdir $(shell grep -lE 'RUN_[A-Z_]*TEST\($(T)\)|check_selected\("$(T)"\)' tests/test_*.c)))
ifeq ($(T_PROG),)
T_PROG := $(addprefix conf_,$(basename $(notdir $(shell \
            grep -lE 'CONF_(TASK|PLAIN)\(([A-Za-z0-9_]+__)?$(T)\)' tests/conformance/test_*.c))))
endif
endif

.PHONY: all test demo bench fuzz install uninstall clean help \
        $(addprefix compile-,$(ALL_FLAVORS)) $(addprefix test-,$(ALL_FLAVORS)) \
        $(addprefix test-one-,$(ALL_FLAVORS))

all: compile-release

# compile-FLAVOUR: configure and build that flavour's directory.
# test-FLAVOUR:    build it and run ctest there (output also in DIR/ctest.log).
define flavour_rules
compile-$(1):
	$$(call cmake_build,$(1))

test-$(1):
	@rm -f $(DIR_$(1))/ctest.log
	$$(call cmake_build,$(1))
	@echo "=== ctest in $(DIR_$(1))/ ($(1)) ==="
	cd $(DIR_$(1)) && $(CTEST) --output-on-failure -j $(CTEST_JOBS) --timeout $(TEST_TIMEOUT) $(CTEST_ARGS) 2>&1 | tee ctest.log

# test-one-FLAVOUR: `make test T=NAME` in that flavour.
test-one-$(1):
	$$(call cmake_build,$(1),$(T_PROG))
	@echo "=== $(T) in $(DIR_$(1))/ ($(1)) ==="
ifneq ($(T_PROG),)
	cd $(DIR_$(1))/tests && set -a && . ./test_env.sh && set +a && \
	  for p in $(T_PROG); do echo "--- $$$$p $(T)"; timeout $(TEST_TIMEOUT) ./$$$$p $(T) || exit 1; done
else
	cd $(DIR_$(1)) && $(CTEST) --output-on-failure --timeout $(TEST_TIMEOUT) -R '$(T)' --no-tests=error $(CTEST_ARGS)
endif
endef
$(foreach f,$(ALL_FLAVORS),$(eval $(call flavour_rules,$(f))))

# Run every flavour even when one fails, then one summary line over all runs
# (a build that fails counts as one failure). With T=NAME: that test only.
test:
ifneq ($(T),)
	@status=0; for f in $(FLAVORS); do $(MAKE) --no-print-directory test-one-$$f || status=1; done; \
	echo "make test T=$(T): $$([ $$status = 0 ] && echo passed || echo FAILED) in $(FLAVORS)"; exit $$status
else
	@status=0; passed=0; failed=0; skipped=0; report=""; \
	for f in $(FLAVORS); do \
	  case "$$f" in release) d=$(DIR_release);; asan) d=$(DIR_asan);; \
	    ucontext) d=$(DIR_ucontext);; tsan) d=$(DIR_tsan);; \
	    *) echo "make test: unknown flavour $$f" >&2; exit 2;; esac; \
	  if $(MAKE) --no-print-directory test-$$f; then r=ok; else r=FAILED; status=1; fi; \
	  log=$$d/ctest.log; \
	  if [ -f $$log ] && line=$$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' $$log | tail -n1); then \
	    tot=$$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$$line"); \
	    fl=$$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$$line"); \
	    sk=$$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)' $$log || true); \
	  elif [ -f $$log ] && grep -q 'No tests were found' $$log; then tot=0; fl=0; sk=0; \
	  else tot=1; fl=1; sk=0; fi; \
	  if [ "$$r" = FAILED ] && [ "$$fl" = 0 ]; then tot=$$((tot+1)); fl=1; fi; \
	  passed=$$((passed + tot - fl - sk)); failed=$$((failed + fl)); skipped=$$((skipped + sk)); \
	  report="$$report $$f=$$r"; \
	done; \
	echo "make test:$$report"; \
	echo "tests: $$passed passed, $$failed failed, $$skipped skipped"; \
	exit $$status
endif

demo: compile-release
	$(DEMO)

# Benchmark runners get the build's directories and the interpreters to use
# (Debian's python3, which is the one python3-uvloop installs into).
bench:
	@bash scripts/deps.sh bench
	$(call cmake_build,release)
	@shopt -s nullglob; runners=(bench/*.sh); fail=0; \
	if [ $${#runners[@]} -eq 0 ]; then echo "bench: no bench/*.sh runners yet"; exit 0; fi; \
	py=$$(command -v /usr/bin/python3 || command -v python3 || true); \
	go=$$(command -v go || ls /usr/lib/go*/bin/go 2>/dev/null | tail -n1 || true); \
	for s in "$${runners[@]}"; do \
	  echo "=== $$s"; \
	  CIO_SOURCE_DIR="$(CURDIR)" CIO_BUILD_DIR="$(abspath $(BUILD))" \
	  CIO_BENCH_DIR="$(abspath $(BUILD))/bench" CIO_EXAMPLES_DIR="$(abspath $(BUILD))/examples" \
	  CIO_PYTHON="$$py" CIO_GO="$$go" bash "$$s" || { echo "bench: $$s failed (exit $$?)"; fail=1; }; \
	done; exit $$fail

# Each target for FUZZ_SECONDS, new inputs kept in build-fuzz/corpus/NAME (the
# checked-in seeds are read, never written); a crash fails the run and leaves
# build-fuzz/crash-* (add it to fuzz/corpus/NAME with its fix).
fuzz:
	@bash scripts/deps.sh fuzz
	$(call cmake_build,fuzz)
	@shopt -s nullglob; fail=0; n=0; \
	for src in fuzz/*.c; do \
	  name=$$(basename $$src .c); [ "$$name" = replay ] && continue; \
	  t=$(DIR_fuzz)/fuzz/$$name; n=$$((n+1)); \
	  [ -x "$$t" ] || { echo "fuzz: $$t was not built"; fail=1; continue; }; \
	  mkdir -p $(DIR_fuzz)/corpus/$$name; \
	  dict=(); [ -f fuzz/$$name.dict ] && dict=(-dict=fuzz/$$name.dict); \
	  echo "=== fuzz $$name ($(FUZZ_SECONDS) s)"; \
	  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	     $$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	       -artifact_prefix=$(DIR_fuzz)/ "$${dict[@]}" $(DIR_fuzz)/corpus/$$name fuzz/corpus/$$name \
	       > $(DIR_fuzz)/$$name.log 2>&1; then \
	    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' $(DIR_fuzz)/$$name.log | sed "s/^/  /"; \
	  else echo "fuzz: $$name FAILED (log: $(DIR_fuzz)/$$name.log)"; tail -n 40 $(DIR_fuzz)/$$name.log; fail=1; fi; \
	done; \
	if [ $$n -eq 0 ]; then echo "fuzz: no targets built"; exit 1; fi; exit $$fail

install:
	$(call cmake_build,release)
	DESTDIR="$(DESTDIR)" $(CMAKE) --install $(BUILD)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

uninstall:
	@if [ -f $(BUILD)/install_manifest.txt ]; then \
	  xargs -d '\n' rm -fv -- < $(BUILD)/install_manifest.txt; else echo "nothing installed from $(BUILD)/"; fi

clean:
	rm -rf $(foreach f,$(ALL_FLAVORS),$(DIR_$(f)))

help:
	@sed -n '/^#$$/,/^$$/p' Makefile | sed 's/^# \{0,1\}//'
	@echo "Also: compile-FLAVOUR, test-FLAVOUR for FLAVOUR in: $(ALL_FLAVORS); uninstall."

# taskscope: one build for the runtime, the BPF objects and skeletons, the CLI, the examples,
# the tests and the benchmarks. Everything goes under $(BUILD). Quiet by default; V=1 verbose.
#
#   make                 build everything
#   make test            build, then run every test (tests/run)
#   make bench           run the benchmarks (tools/bench/run)
#   make install         PREFIX=/usr/local DESTDIR=   builds what it installs, says what it installs
#   make SAN=address,undefined BUILD=build/asan unit   runtime unit tests under sanitizers

BUILD ?= build
PREFIX ?= /usr/local
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
SAN ?=
VERSION := 0.1.0
GIT_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -fno-omit-frame-pointer
CPPFLAGS += -Iinclude -D_GNU_SOURCE -MMD -MP
ifneq ($(SAN),)
CFLAGS += -fsanitize=$(SAN) -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
endif
LDLIBS += -lpthread

.DELETE_ON_ERROR:
.PHONY: all runtime examples unit progs cli man bench-bins test bench install clean FORCE

all: runtime examples unit progs $(BUILD)/taskscope-demo cli man bench-bins

# ---- the runtime ----
RT_SRC := $(wildcard src/runtime/*.c) src/runtime/switch_x86_64.S
RT_OBJ := $(patsubst src/%,$(BUILD)/obj/%.o,$(RT_SRC))
RT_NOPROBE_OBJ := $(patsubst src/%,$(BUILD)/obj-noprobes/%.o,$(RT_SRC))

runtime: $(BUILD)/libtaskscope.a $(BUILD)/libtaskscope.so $(BUILD)/taskscope.pc

$(BUILD)/obj/%.c.o: src/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -c $< -o $@

$(BUILD)/obj/%.S.o: src/%.S
	$(call msg,AS,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -fPIC -c $< -o $@

# The same runtime with every probe compiled out: the baseline of the probes' cost.
$(BUILD)/obj-noprobes/%.c.o: src/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -DTASKSCOPE_NO_PROBES $(CFLAGS) -fPIC -c $< -o $@

$(BUILD)/obj-noprobes/%.S.o: src/%.S
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -fPIC -c $< -o $@

# The same runtime in an older ABI's form, the tests' targets that readers must still read:
# v1 publishes the first form of its debug descriptor (no wait ages, no rings), v2 the rings
# with ABI version 2's header (include/taskscope/debug.h). libtaskscope-vN.a.
FORMS := v1 v2
define form_rules
$(BUILD)/obj-$(1)/%.c.o: src/%.c
	$$(call msg,CC,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CPPFLAGS) -DTS_DEBUG_FORM_$(call uc,$(1)) $$(CFLAGS) -fPIC -c $$< -o $$@

$(BUILD)/obj-$(1)/%.S.o: src/%.S
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CPPFLAGS) -fPIC -c $$< -o $$@

$(BUILD)/libtaskscope-$(1).a: $(patsubst src/%,$(BUILD)/obj-$(1)/%.o,$(RT_SRC))
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(BUILD)/progs/%-$(1): tests/progs/%.c $(BUILD)/libtaskscope-$(1).a
	$$(call msg,CC,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CPPFLAGS) $$(CFLAGS) -pie -fPIE $$(LDFLAGS) -o $$@ $$< $(BUILD)/libtaskscope-$(1).a $$(LDLIBS)
endef
uc = $(subst v,V,$(1))
$(foreach f,$(FORMS),$(eval $(call form_rules,$(f))))

$(BUILD)/libtaskscope.a: $(RT_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libtaskscope-noprobes.a: $(RT_NOPROBE_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libtaskscope.so: $(RT_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libtaskscope.so.0 -o $@ $^ $(LDLIBS)
	$(Q)ln -sf libtaskscope.so $(BUILD)/libtaskscope.so.0

# The prefix the .pc names, rewritten only when it changes: `make install PREFIX=X` after a
# plain `make` (or tools/try) must install a .pc that names X, not the prefix of that build.
$(BUILD)/prefix: FORCE
	@mkdir -p $(@D)
	$(Q)[ "$$(cat $@ 2>/dev/null)" = '$(PREFIX)' ] || printf '%s\n' '$(PREFIX)' > $@

$(BUILD)/taskscope.pc: $(BUILD)/prefix Makefile
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
		'Name: taskscope' 'Description: asyncio-like C tasks with zero-cost USDT probes' \
		'Version: $(VERSION)' 'Libs: -L$${libdir} -ltaskscope' 'Libs.private: -lpthread' \
		'Cflags: -I$${includedir}' > $@

# ---- programs linked against the runtime: examples, unit tests, demo, bench drivers ----
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
UNIT := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/*.c))
BENCH_C := $(wildcard tools/bench/*.c)
BENCH := $(patsubst tools/bench/%.c,$(BUILD)/bench/%,$(BENCH_C)) \
	$(patsubst tools/bench/%.c,$(BUILD)/bench/%-noprobes,$(BENCH_C))

# Victim programs for the CLI tests, each in three links: static runtime (PIE, the default),
# the shared libtaskscope.so, and stripped.
PROGS_C := $(wildcard tests/progs/*.c)
PROGS := $(foreach p,$(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(PROGS_C)),$(p) $(p)-shared $(p)-stripped)
# Victims also linked against an older form's runtime (libtaskscope-vN.a): NAME-vN.
PROGS += $(BUILD)/progs/waits-v1
PROGS += $(BUILD)/progs/cpu_hogs-v1
PROGS += $(BUILD)/progs/rec_victim-v2
# Libraries victims load with dlopen: tests/progs/lib/NAME.c -> $(BUILD)/progs/libNAME.so
PROG_LIBS := $(patsubst tests/progs/lib/%.c,$(BUILD)/progs/lib%.so,$(wildcard tests/progs/lib/*.c))

examples: $(EXAMPLES)
unit: $(UNIT)
progs: $(PROGS) $(PROG_LIBS)
bench-bins: $(BENCH)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libtaskscope.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtaskscope.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libtaskscope.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/runtime -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtaskscope.a $(LDLIBS)

# Trace-file tests link the CLI's trace code (no BPF, no libbpf) and zlib.
TRACE_SRC := src/cli/trace/write.c src/cli/trace/read.c src/cli/trace/state.c src/cli/trace/latency.c src/cli/out/outfile.c
TRACE_OBJ := $(patsubst src/cli/%.c,$(BUILD)/obj-trace/%.o,$(TRACE_SRC))

TRACE_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_trace_*.c))

$(TRACE_OBJ): $(BUILD)/obj-trace/%.o: src/cli/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/cli $(CFLAGS) -c $< -o $@

$(TRACE_TESTS): $(BUILD)/tests/%: tests/unit/%.c $(TRACE_OBJ) $(BUILD)/libtaskscope.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/runtime -Isrc/cli -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(TRACE_OBJ) $(BUILD)/libtaskscope.a -ldeflate -lz $(LDLIBS)

# The rings test links the CLI's ring reader (no BPF, no libbpf) beside the runtime's writer.
RINGS_SRC := src/cli/target/rings.c src/cli/target/rings_map.c src/cli/target/ring_decode.c src/cli/target/backlog.c
RINGS_OBJ := $(patsubst src/cli/%.c,$(BUILD)/obj-rings/%.o,$(RINGS_SRC))

$(RINGS_OBJ): $(BUILD)/obj-rings/%.o: src/cli/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/cli $(CFLAGS) -c $< -o $@

$(BUILD)/tests/test_thread_rings: tests/unit/test_thread_rings.c $(RINGS_OBJ) $(BUILD)/libtaskscope.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/runtime -Isrc/cli -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(RINGS_OBJ) $(BUILD)/libtaskscope.a $(LDLIBS)

# The reconciliation test links the CLI's pure reconcile (no BPF, no libbpf) and the model.
RECONCILE_SRC := src/cli/probes/reconcile.c src/cli/target/model.c src/cli/target/walk.c src/cli/idmap.c
RECONCILE_OBJ := $(patsubst src/cli/%.c,$(BUILD)/obj-reconcile/%.o,$(RECONCILE_SRC))

$(RECONCILE_OBJ): $(BUILD)/obj-reconcile/%.o: src/cli/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/cli -Ibpf $(CFLAGS) -c $< -o $@

$(BUILD)/tests/test_reconcile: tests/unit/test_reconcile.c $(RECONCILE_OBJ)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/cli -Ibpf -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(RECONCILE_OBJ) $(LDLIBS)

# top's replay of ring events (pure) with the map and the latency sets it keeps them in.
REPLAY_SRC := src/cli/top/replay.c src/cli/idmap.c src/cli/trace/latency.c src/cli/target/walk.c
REPLAY_OBJ := $(patsubst src/cli/%.c,$(BUILD)/obj-replay/%.o,$(REPLAY_SRC))

$(REPLAY_OBJ): $(BUILD)/obj-replay/%.o: src/cli/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/cli -Ibpf $(CFLAGS) -c $< -o $@

$(BUILD)/tests/test_top_replay: tests/unit/test_top_replay.c $(REPLAY_OBJ)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/cli -Ibpf -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(REPLAY_OBJ) $(LDLIBS)

# profile's owner of a sample (pure) with the map it keeps the stacks in.
OWNER_SRC := src/cli/profile/owner.c src/cli/idmap.c
OWNER_OBJ := $(patsubst src/cli/%.c,$(BUILD)/obj-owner/%.o,$(OWNER_SRC))

$(OWNER_OBJ): $(BUILD)/obj-owner/%.o: src/cli/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/cli -Ibpf $(CFLAGS) -c $< -o $@

$(BUILD)/tests/test_prof_owner: tests/unit/test_prof_owner.c $(OWNER_OBJ)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/cli -Ibpf -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(OWNER_OBJ) $(LDLIBS)

$(BUILD)/progs/%: tests/progs/%.c $(BUILD)/libtaskscope.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -pie -fPIE $(LDFLAGS) -o $@ $< $(BUILD)/libtaskscope.a $(LDLIBS)

$(BUILD)/progs/%-shared: tests/progs/%.c $(BUILD)/libtaskscope.so
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -L$(BUILD) -l:libtaskscope.so \
		-Wl,-rpath,'$$ORIGIN/..' $(LDLIBS)

$(PROG_LIBS): $(BUILD)/progs/lib%.so: tests/progs/lib/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -shared -fPIC $(LDFLAGS) -o $@ $<

$(BUILD)/progs/%-stripped: $(BUILD)/progs/%
	$(call msg,STRIP,$@)
	$(Q)strip -o $@ $<

$(BUILD)/taskscope-demo: tools/demo.c $(BUILD)/libtaskscope.a
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtaskscope.a $(LDLIBS)

$(BUILD)/bench/%: tools/bench/%.c $(BUILD)/libtaskscope.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtaskscope.a $(LDLIBS)

$(BUILD)/bench/%-noprobes: tools/bench/%.c $(BUILD)/libtaskscope-noprobes.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -DTASKSCOPE_NO_PROBES $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtaskscope-noprobes.a $(LDLIBS)

# ---- the CLI: BPF objects, skeletons, user space ----
BPF_SRC := $(wildcard bpf/*.bpf.c)
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRC))
CLI_SRC := $(wildcard src/cli/*.c src/cli/*/*.c)
CLI_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CLI_SRC))
ARCH := x86
# clang -target bpf does not search the host's multiarch folder, where <asm/errno.h> lives
MULTIARCH := $(shell $(CC) -print-multiarch)

cli: $(if $(CLI_SRC),$(BUILD)/taskscope)

$(BUILD)/bpf/vmlinux.h:
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/bpf/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD)/bpf -Ibpf -Iinclude \
		-idirafter /usr/include/$(MULTIARCH) \
		-MMD -MP -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/obj/cli/%.o: src/cli/%.c $(BPF_SKEL)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Isrc/cli -I$(BUILD)/bpf -Ibpf -DTASKSCOPE_VERSION='"$(VERSION) ($(GIT_COMMIT))"' \
		$(CFLAGS) -c $< -o $@

$(BUILD)/taskscope: $(CLI_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lbpf -ldw -lelf -ldeflate -lz -lncursesw $(LDLIBS)

# ---- fuzz targets: libFuzzer with ASan and UBSan (clang); run by tests/fuzz/run ----
FUZZ_SRC := $(wildcard tests/fuzz/*.c)
FUZZ := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
	-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_TRACE_OBJ := $(patsubst src/cli/%.c,$(BUILD)/fuzz/obj/%.o,$(TRACE_SRC))

.PHONY: fuzz
fuzz: $(FUZZ)

$(FUZZ_TRACE_OBJ): $(BUILD)/fuzz/obj/%.o: src/cli/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -Isrc/cli -std=gnu11 $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
		-c $< -o $@

$(FUZZ): $(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_TRACE_OBJ)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -Isrc/cli -Ibpf -std=gnu11 $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(FUZZ_TRACE_OBJ) -ldw -lelf -ldeflate -lz

# ---- running ----
test: all
	$(Q)tests/run

# The runtime's table first, then one script per CLI feature; each prints its own table.
BENCH_SCRIPTS := run ps stacks top record dump metrics profile flight
bench: all
	$(Q)for b in $(BENCH_SCRIPTS); do [ -x tools/bench/$$b ] || continue; \
		echo "== tools/bench/$$b"; tools/bench/$$b || exit 1; echo; done

# ---- man pages: generated from what they document, so they cannot drift from it ----
# The command pages from the CLI's own --help, libtaskscope(3) from the API header and the
# README's runtime section, taskscope-probes(7) from the README's probe ABI sections.
man: $(if $(CLI_SRC),$(BUILD)/man/.stamp)

$(BUILD)/man/.stamp: $(BUILD)/taskscope include/taskscope/taskscope.h include/taskscope/probes.h README.md \
		$(wildcard tools/man/*)
	$(call msg,MAN,$(@D))
	$(Q)rm -rf $(@D) && tools/man/build $(BUILD)/taskscope $(@D) '$(VERSION)'
	$(Q)touch $@

# ---- install: builds what it installs, and says what it installs ----
# A non-default PREFIX needs PKG_CONFIG_PATH and LD_LIBRARY_PATH (or an rpath): see README.
# As root, with no DESTDIR, ldconfig refreshes the loader's cache (LDCONFIG=: to skip it).
LDCONFIG ?= ldconfig

install: runtime cli man
	$(Q)set -e; d='$(DESTDIR)$(PREFIX)'; \
	put() { mode=$$1 dir=$$2; shift 2; install -d "$$d/$$dir"; \
		for f; do printf '  %-8s %s\n' INSTALL "$$d/$$dir/$${f##*/}"; \
			install -m "$$mode" "$$f" "$$d/$$dir/"; done; }; \
	put 755 bin $(BUILD)/taskscope; \
	put 644 include/taskscope include/taskscope/*.h; \
	put 644 lib $(BUILD)/libtaskscope.a; \
	printf '  %-8s %s\n' INSTALL "$$d/lib/libtaskscope.so.0"; \
	install -m 755 $(BUILD)/libtaskscope.so "$$d/lib/libtaskscope.so.0"; \
	ln -sf libtaskscope.so.0 "$$d/lib/libtaskscope.so"; \
	put 644 lib/pkgconfig $(BUILD)/taskscope.pc; \
	put 644 share/man/man1 $(BUILD)/man/*.1; \
	put 644 share/man/man3 $(BUILD)/man/*.3; \
	put 644 share/man/man7 $(BUILD)/man/*.7; \
	install -d "$$d/share/bash-completion/completions"; \
	printf '  %-8s %s\n' INSTALL "$$d/share/bash-completion/completions/taskscope"; \
	install -m 644 tools/completion/taskscope.bash "$$d/share/bash-completion/completions/taskscope"
	$(Q)if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG); fi

clean:
	$(Q)rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

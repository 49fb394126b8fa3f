/* SPDX-License-Identifier: MIT */
/* The byte layout of trace files, shared by write.c and read.c only.
 * docs/trace-format.md is the specification; every number here is in it. */
#ifndef TSC_TRACE_FMT_H
#define TSC_TRACE_FMT_H

#include <stdint.h>
#include <string.h>

/* File header: fixed part, then the binary path, then (1.2) the program path, padded to 8. */
#define TF_HDR_FIXED 48
#define TF_HDR_OFF_SIZE 8
#define TF_HDR_OFF_MAJOR 12
#define TF_HDR_OFF_MINOR 14
#define TF_HDR_OFF_PID 16
#define TF_HDR_OFF_FLAGS 20
#define TF_HDR_OFF_MONO 24
#define TF_HDR_OFF_REAL 32
#define TF_HDR_OFF_CRC 40
#define TF_HDR_OFF_BINLEN 44
#define TF_HDR_OFF_PROGLEN 46                /* 1.2; 0 in 1.0 and 1.1 files */
#define TF_HDR_MAX 65536

/* Chunk header (every chunk: snapshot, events block, footer). */
#define TF_CHUNK_MAGIC "TSBK"
#define TF_CHUNK_FIXED 64
#define TF_CH_OFF_CRC 4
#define TF_CH_OFF_HDRLEN 8
#define TF_CH_OFF_KIND 10
#define TF_CH_OFF_CODEC 11
#define TF_CH_OFF_PAYLOAD 12
#define TF_CH_OFF_RAW 16
#define TF_CH_OFF_NREC 20
#define TF_CH_OFF_SEQ 24
#define TF_CH_OFF_TFIRST 32
#define TF_CH_OFF_TMIN 40
#define TF_CH_OFF_TMAX 48
#define TF_CH_OFF_NLOST 56
#define TF_CH_MAX_LOST 255

enum tf_chunk_kind { TF_KIND_SNAPSHOT = 1, TF_KIND_EVENTS = 2, TF_KIND_FOOTER = 3 };
enum tf_codec { TF_CODEC_NONE = 0, TF_CODEC_ZLIB = 1 };

/* Limits every reader enforces and every writer stays within. */
#define TF_BLOCK_RAW_TARGET (1u << 20)      /* a writer ends a block past this */
#define TF_EVENTS_RAW_MAX (16u << 20)       /* events block, decompressed */
#define TF_SNAPSHOT_RAW_MAX (256u << 20)
#define TF_PAYLOAD_MAX (256u << 20)
#define TF_RATIO_MAX 128                    /* raw_len <= payload_len * this + 4096 */
#define TF_STR_MAX 4095                     /* bytes of a string, NUL excluded */
#define TF_BLOCK_STRINGS_MAX 65536          /* string table entries per block */
#define TF_BLOCK_THREADS_MAX 4096           /* thread table entries per block */

/* Record type byte: low 5 bits type, high 3 bits flags. */
#define TF_TYPE_MASK 0x1f
#define TF_F_SAME_THREAD 0x20               /* events: same thread as the previous record */
#define TF_F_A 0x40                         /* per type, see below */
#define TF_F_B 0x80
#define TF_EXT_FIRST 16                     /* 16..30: extension, varint length follows */
#define TF_EXT_ESCAPE 31                    /* varint type, varint length follow */
#define TF_EXT_EXEC 16                      /* 1.1: exec; payload: time, zigzag tid, file */
#define TF_EXT_READY 17                     /* 1.3: ready; payload: time, zigzag tid, id */

/* String references (varint v). */
#define TF_STR_IS_REF(v) (((v) & 1) == 0)   /* table[v >> 1] */
#define TF_STR_LITERAL 1                    /* NUL-terminated bytes follow; appended */
#define TF_STR_IS_NUM(v) (((v) & 3) == 3)   /* prefix table[v >> 2] (= n: new literal
					     * prefix follows) + decimal number, zigzag
					     * delta from that prefix's last number */

static inline void tf_put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void tf_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void tf_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint16_t tf_get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t tf_get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t tf_get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static inline uint64_t tf_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t tf_unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "trace files are little-endian; add byte swaps for this target"
#endif

#endif

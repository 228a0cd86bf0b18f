/* The C side of the wire: protoc-c's generated messages and a small arena allocator
 * that the Swift codec uses for every pack and unpack. Only MedicareWire imports this. */
#ifndef CMEDICAREPROTO_H
#define CMEDICAREPROTO_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include "medicare_protos.h"

/* A bump allocator: allocations are 16-byte aligned and carry their size in a header,
 * so that a string's allocation tells its wire length (protobuf-c NUL-terminates strings,
 * which would otherwise hide an embedded NUL). Freed all at once. Not thread-safe: each
 * thread takes its own with mc_arena_acquire. */
typedef struct mc_arena mc_arena;

/* The calling thread's cached arena when it is free, else a new one. */
mc_arena *mc_arena_acquire(void);
/* Resets the arena and returns it to the thread cache (or frees it). */
void mc_arena_release(mc_arena *arena);

/* Zeroed memory for `size` bytes, or NULL when out of memory. */
void *mc_arena_alloc(mc_arena *arena, size_t size);

/* A protobuf-c allocator drawing from the arena; its free is a no-op. */
ProtobufCAllocator *mc_arena_allocator(mc_arena *arena);

/* The length of a string that protobuf-c unpacked into this arena, or -1 when the string
 * holds an embedded NUL (strlen is shorter than the wire length). Strings not allocated in
 * the arena (protobuf-c's static defaults) are measured with strlen. */
long mc_arena_string_length(const mc_arena *arena, const char *string);

/* How deep messages may nest: the outermost message is level 1, a message field inside it
 * level 2, and so on. protobuf-c unpacks nested messages by recursion with no limit, so a
 * few tens of kilobytes of nested length prefixes would overflow the thread's stack;
 * every decode checks the bytes with mc_wire_check_depth first. */
#define MC_WIRE_MAX_DEPTH 64

enum { MC_WIRE_SCAN_OK = 0, MC_WIRE_SCAN_TOO_DEEP = 1, MC_WIRE_SCAN_MALFORMED = 2 };

/* One linear pass over a message's wire bytes, without recursion or allocation: follows
 * the length-delimited fields that `descriptor` (and the descriptors it leads to) declares
 * as messages, and returns MC_WIRE_SCAN_TOO_DEEP as soon as nesting passes
 * MC_WIRE_MAX_DEPTH, MC_WIRE_SCAN_MALFORMED when the framing is broken (a length or varint
 * running past its enclosing message, a group or invalid wire type: bytes protobuf-c would
 * refuse too), else MC_WIRE_SCAN_OK. Field contents are not validated here. */
int mc_wire_check_depth(const ProtobufCMessageDescriptor *descriptor, const uint8_t *data, size_t length);

#endif

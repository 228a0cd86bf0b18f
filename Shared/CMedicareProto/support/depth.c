#include "CMedicareProto.h"

/* One message being scanned: its descriptor and where its bytes end. */
typedef struct {
    const ProtobufCMessageDescriptor *descriptor;
    size_t end;
} mc_scan_frame;

/* Reads a varint of at most 10 bytes ending before `end`; 0 when it does not. */
static int read_varint(const uint8_t *data, size_t end, size_t *pos, uint64_t *value) {
    uint64_t result = 0;
    size_t at = *pos;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (at >= end) return 0;
        uint8_t byte = data[at++];
        result |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *pos = at;
            *value = result;
            return 1;
        }
    }
    return 0;
}

int mc_wire_check_depth(const ProtobufCMessageDescriptor *descriptor, const uint8_t *data, size_t length) {
    /* The explicit stack replaces recursion: its size is the bound, on the C stack (about
     * 1 KiB), so the scan allocates nothing. */
    mc_scan_frame stack[MC_WIRE_MAX_DEPTH];
    unsigned top = 0;
    stack[0].descriptor = descriptor;
    stack[0].end = length;
    size_t pos = 0;
    for (;;) {
        while (pos == stack[top].end) {
            if (top == 0) return MC_WIRE_SCAN_OK;
            top--;
        }
        const size_t end = stack[top].end;
        uint64_t tag;
        if (!read_varint(data, end, &pos, &tag)) return MC_WIRE_SCAN_MALFORMED;
        switch (tag & 7) {
        case 0: { /* varint */
            uint64_t ignored;
            if (!read_varint(data, end, &pos, &ignored)) return MC_WIRE_SCAN_MALFORMED;
            break;
        }
        case 1: /* 64-bit */
            if (end - pos < 8) return MC_WIRE_SCAN_MALFORMED;
            pos += 8;
            break;
        case 5: /* 32-bit */
            if (end - pos < 4) return MC_WIRE_SCAN_MALFORMED;
            pos += 4;
            break;
        case 2: { /* length-delimited: a nested message when the field says so */
            uint64_t size;
            if (!read_varint(data, end, &pos, &size) || size > end - pos) return MC_WIRE_SCAN_MALFORMED;
            uint64_t number = tag >> 3;
            const ProtobufCFieldDescriptor *field = number <= UINT32_MAX
                ? protobuf_c_message_descriptor_get_field(stack[top].descriptor, (unsigned)number) : NULL;
            if (field && field->type == PROTOBUF_C_TYPE_MESSAGE && field->descriptor) {
                if (top + 1 >= MC_WIRE_MAX_DEPTH) return MC_WIRE_SCAN_TOO_DEEP;
                top++;
                stack[top].descriptor = field->descriptor;
                stack[top].end = pos + (size_t)size;
            } else {
                pos += (size_t)size; /* strings, bytes, packed scalars, unknown fields */
            }
            break;
        }
        default: /* groups (3, 4) and invalid wire types: protobuf-c refuses them too */
            return MC_WIRE_SCAN_MALFORMED;
        }
    }
}

/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * rdmablk wire protocol: validation of every received message.
 *
 * Pure functions, no allocation, no I/O: the kernel driver, the target, the
 * unit tests and the fuzzers all call these, so a message is accepted or
 * refused the same way everywhere. Each returns an enum rdmablk_status:
 * RDMABLK_S_SUCCESS when the message may be used, else the status to answer
 * (target side) or to fail the connection with (initiator side). The order
 * in which the checks apply is part of the protocol (docs/protocol.md):
 * a message that breaks two rules gets the status of the first.
 *
 * Messages are read with RDMABLK_LE16/32/64; nothing here needs alignment
 * beyond that of the struct passed in, and rdma_cm private data, which may
 * be unaligned, is copied out before it is read.
 */
#ifndef RDMABLK_PROTO_CHECK_H
#define RDMABLK_PROTO_CHECK_H

#include "proto.h"

#include <asm/byteorder.h>	/* __le16_to_cpu() etc., kernel and userspace */
#ifdef __KERNEL__
#include <linux/string.h>
#else
#include <stddef.h>
#include <string.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif
#endif

#define RDMABLK_LE16(x) __le16_to_cpu(x)
#define RDMABLK_LE32(x) __le32_to_cpu(x)
#define RDMABLK_LE64(x) __le64_to_cpu(x)

/**
 * struct rdmablk_export_limits - what a session may do, in CPU byte order.
 * @size:		export size in bytes.
 * @logical_block_size:	power of two; offsets and lengths are multiples.
 * @max_io_size:	largest READ/WRITE length.
 * @max_inline:		largest inline WRITE payload (0: none).
 * @features:		RDMABLK_FEAT_* granted at login.
 * @export_flags:	RDMABLK_EXPORT_F_*.
 *
 * The target fills this from the login response it sent; the initiator may
 * fill it from the one it received to check its own commands.
 */
struct rdmablk_export_limits {
	__u64 size;
	__u32 logical_block_size;
	__u32 max_io_size;
	__u32 max_inline;
	__u32 features;
	__u32 export_flags;
};

static inline const char *rdmablk_status_str(int status)
{
	switch (status) {
	case RDMABLK_S_SUCCESS:		return "success";
	case RDMABLK_S_INVALID_OPCODE:	return "invalid opcode";
	case RDMABLK_S_INVALID_FIELD:	return "invalid field";
	case RDMABLK_S_OUT_OF_RANGE:	return "out of range";
	case RDMABLK_S_TOO_LARGE:	return "too large";
	case RDMABLK_S_READ_ONLY:	return "read-only export";
	case RDMABLK_S_IO_ERROR:	return "I/O error";
	case RDMABLK_S_NO_SPACE:	return "no space left";
	case RDMABLK_S_UNSUPPORTED:	return "operation not supported";
	case RDMABLK_S_TRANSPORT:	return "RDMA transfer failed";
	case RDMABLK_S_NOT_LOGGED_IN:	return "not logged in";
	case RDMABLK_S_VERSION:		return "protocol version not supported";
	case RDMABLK_S_BAD_MESSAGE:	return "malformed message";
	case RDMABLK_S_UNKNOWN_EXPORT:	return "unknown export";
	case RDMABLK_S_HOST_DENIED:	return "host not allowed";
	case RDMABLK_S_AUTH_FAILED:	return "authentication failed";
	case RDMABLK_S_BAD_TICKET:	return "unknown session or bad ticket";
	case RDMABLK_S_QUEUE_LIMIT:	return "queue limit exceeded";
	case RDMABLK_S_NO_RESOURCES:	return "target out of resources";
	case RDMABLK_S_SHUTTING_DOWN:	return "target shutting down";
	case RDMABLK_S_INTERNAL:	return "target internal error";
	}
	return "unknown status";
}

static inline const char *rdmablk_opcode_str(int op)
{
	switch (op) {
	case RDMABLK_OP_READ:		return "READ";
	case RDMABLK_OP_WRITE:		return "WRITE";
	case RDMABLK_OP_FLUSH:		return "FLUSH";
	case RDMABLK_OP_DISCARD:	return "DISCARD";
	case RDMABLK_OP_WRITE_ZEROES:	return "WRITE_ZEROES";
	case RDMABLK_OP_KEEPALIVE:	return "KEEPALIVE";
	case RDMABLK_OP_LOGIN:		return "LOGIN";
	case RDMABLK_OP_DISCOVER:	return "DISCOVER";
	}
	return "unknown opcode";
}

/* Reserved bytes must be zero so that a later version may give them meaning. */
static inline bool rdmablk_is_zero(const void *p, size_t len)
{
	const __u8 *b = (const __u8 *)p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

static inline bool rdmablk_export_id_char_ok(__u8 c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
	       c == '-';
}

/*
 * An export identity field (RDMABLK_FEAT_EXPORT_ID): 1..RDMABLK_EXPORT_ID_MAX
 * characters of [A-Za-z0-9._:-], then only NULs. It ends up in sysfs, in
 * udev properties and in dm-multipath's WWID, so nothing else is accepted.
 */
static inline bool rdmablk_export_id_ok(const __u8 *id)
{
	size_t i, len = 0;

	while (len < RDMABLK_EXPORT_ID_MAX && id[len])
		len++;
	if (!len)
		return false;
	for (i = 0; i < len; i++)
		if (!rdmablk_export_id_char_ok(id[i]))
			return false;
	return rdmablk_is_zero(id + len, RDMABLK_EXPORT_ID_MAX - len);
}

static inline bool rdmablk_is_pow2(__u32 x)
{
	return x && !(x & (x - 1));
}

/* True for a power of two in [lo, hi]. */
static inline bool rdmablk_block_size_ok(__u32 x, __u32 lo, __u32 hi)
{
	return rdmablk_is_pow2(x) && x >= lo && x <= hi;
}

/*
 * A NUL-padded name field (export name, host id): 1 to @field_len bytes of
 * printable ASCII without spaces, then only NULs. A name may fill the whole
 * field, so readers must bound it (strnlen, "%.*s").
 */
static inline int rdmablk_check_name(const __u8 *field, size_t field_len)
{
	size_t i = 0;

	while (i < field_len && field[i] >= 0x21 && field[i] <= 0x7e)
		i++;
	if (i == 0)
		return RDMABLK_S_INVALID_FIELD;
	for (; i < field_len; i++)
		if (field[i])
			return RDMABLK_S_INVALID_FIELD;
	return RDMABLK_S_SUCCESS;
}

/*
 * Copies rdma_cm private data into @msg (@size bytes) after checking the
 * magic and version that start every rdmablk private data. The version is
 * checked before the length, so that a peer of another version, whose
 * message may have another size, learns VERSION rather than BAD_MESSAGE.
 * rdma_cm pads private data on IB and RoCE, so bytes past @size are ignored.
 */
static inline int rdmablk_cm_copy(void *msg, size_t size,
				  const void *buf, size_t len)
{
	__le32 magic;
	__le16 version;

	if (len < sizeof(magic) + sizeof(version))
		return RDMABLK_S_BAD_MESSAGE;
	memcpy(&magic, buf, sizeof(magic));
	memcpy(&version, (const __u8 *)buf + sizeof(magic), sizeof(version));
	if (RDMABLK_LE32(magic) != RDMABLK_MAGIC)
		return RDMABLK_S_BAD_MESSAGE;
	if (RDMABLK_LE16(version) != RDMABLK_PROTO_VERSION)
		return RDMABLK_S_VERSION;
	if (len < size)
		return RDMABLK_S_BAD_MESSAGE;
	memcpy(msg, buf, size);
	return RDMABLK_S_SUCCESS;
}

/*
 * Target side: connect request private data. Order: magic, version, length,
 * reserved, queue limits, session fields. The session id and ticket are only
 * checked for shape here; the target looks them up (BAD_TICKET) afterwards.
 */
static inline int rdmablk_check_cm_req(const void *buf, size_t len)
{
	struct rdmablk_cm_req req;
	__u16 qid, depth;
	int ret;

	ret = rdmablk_cm_copy(&req, sizeof(req), buf, len);
	if (ret)
		return ret;
	if (req.flags || req.rsvd0 || !rdmablk_is_zero(req.rsvd1, sizeof(req.rsvd1)))
		return RDMABLK_S_BAD_MESSAGE;
	qid = RDMABLK_LE16(req.qid);
	depth = RDMABLK_LE16(req.queue_depth);
	if (qid >= RDMABLK_MAX_QUEUES || !depth || depth > RDMABLK_MAX_QUEUE_DEPTH)
		return RDMABLK_S_QUEUE_LIMIT;
	if (qid == 0 && (req.session_id ||
			 !rdmablk_is_zero(req.ticket, sizeof(req.ticket))))
		return RDMABLK_S_BAD_MESSAGE;
	if (qid > 0 && !req.session_id)
		return RDMABLK_S_BAD_MESSAGE;
	return RDMABLK_S_SUCCESS;
}

/*
 * Initiator side: accept private data for the queue it asked for with @qid
 * and @queue_depth. Anything but VERSION is a broken target: BAD_MESSAGE.
 */
static inline int rdmablk_check_cm_rep(const void *buf, size_t len,
				       __u16 qid, __u16 queue_depth)
{
	struct rdmablk_cm_rep rep;
	__u16 depth;
	__u32 max_inline;
	bool nonce_zero;
	int ret;

	ret = rdmablk_cm_copy(&rep, sizeof(rep), buf, len);
	if (ret)
		return ret;
	depth = RDMABLK_LE16(rep.queue_depth);
	max_inline = RDMABLK_LE32(rep.max_inline);
	nonce_zero = rdmablk_is_zero(rep.nonce, sizeof(rep.nonce));
	if (rep.rsvd0 || !rdmablk_is_zero(rep.rsvd1, sizeof(rep.rsvd1)) ||
	    RDMABLK_LE16(rep.qid) != qid || !depth || depth > queue_depth ||
	    max_inline > RDMABLK_MAX_INLINE_SIZE)
		return RDMABLK_S_BAD_MESSAGE;
	/* Queue 0 must be able to receive a LOGIN and needs a nonce. */
	if (qid == 0 && (max_inline < sizeof(struct rdmablk_login_req) || nonce_zero))
		return RDMABLK_S_BAD_MESSAGE;
	if (qid > 0 && !nonce_zero)
		return RDMABLK_S_BAD_MESSAGE;
	return RDMABLK_S_SUCCESS;
}

/*
 * Initiator side: SUCCESS when the reject private data is an rdmablk reject
 * (the caller then reads its status and version), BAD_MESSAGE when it is
 * not, e.g. the CM's own reject when nothing listens on the port. Its
 * version and reserved bytes are not checked: a reject must stay readable
 * by every version, it is how a VERSION mismatch is reported.
 */
static inline int rdmablk_check_cm_rej(const void *buf, size_t len)
{
	struct rdmablk_cm_rej rej;
	__u16 status;

	if (len < sizeof(rej))
		return RDMABLK_S_BAD_MESSAGE;
	memcpy(&rej, buf, sizeof(rej));
	status = RDMABLK_LE16(rej.status);
	if (RDMABLK_LE32(rej.magic) != RDMABLK_MAGIC ||
	    status == RDMABLK_S_SUCCESS || status >= RDMABLK_S_MAX)
		return RDMABLK_S_BAD_MESSAGE;
	return RDMABLK_S_SUCCESS;
}

/* READ..WRITE_ZEROES act on the export and need a logged-in session. */
static inline bool rdmablk_op_is_io(__u8 op)
{
	return op == RDMABLK_OP_READ || op == RDMABLK_OP_WRITE ||
	       op == RDMABLK_OP_FLUSH || op == RDMABLK_OP_DISCARD ||
	       op == RDMABLK_OP_WRITE_ZEROES;
}

/* The feature an opcode needs, or 0 when every export can do it. */
static inline __u32 rdmablk_op_feature(__u8 op)
{
	switch (op) {
	case RDMABLK_OP_FLUSH:
		return RDMABLK_FEAT_FLUSH;
	case RDMABLK_OP_DISCARD:
		return RDMABLK_FEAT_DISCARD;
	case RDMABLK_OP_WRITE_ZEROES:
		return RDMABLK_FEAT_WRITE_ZEROES;
	}
	return 0;
}

/* The flags an opcode may carry once the session granted @features. */
static inline __u8 rdmablk_op_flags(__u8 op, __u32 features)
{
	__u8 fua = features & RDMABLK_FEAT_FUA ? RDMABLK_CMD_F_FUA : 0;
	__u8 inl = features & RDMABLK_FEAT_INLINE_WRITE ? RDMABLK_CMD_F_INLINE : 0;
	__u8 inv = features & RDMABLK_FEAT_REMOTE_INV ?
		   RDMABLK_CMD_F_INVALIDATE : 0;

	switch (op) {
	case RDMABLK_OP_READ:
		return inv;
	case RDMABLK_OP_WRITE:
		return fua | inl | inv;
	case RDMABLK_OP_WRITE_ZEROES:
		return fua | RDMABLK_CMD_F_NO_UNMAP;
	}
	return 0;
}

/*
 * Field checks of a command whose opcode and flags are allowed: reserved
 * bytes, fields that must be zero, block alignment, and the payload after
 * the capsule. @lim is only read for I/O opcodes.
 */
static inline int rdmablk_check_cmd_fields(const struct rdmablk_cmd *cmd,
					   size_t payload,
					   const struct rdmablk_export_limits *lim)
{
	__u8 op = cmd->opcode;
	bool in_line = cmd->flags & RDMABLK_CMD_F_INLINE;
	/* Only these name a buffer of the initiator's by addr and rkey. */
	bool buffer = op == RDMABLK_OP_READ || op == RDMABLK_OP_DISCOVER ||
		      (op == RDMABLK_OP_WRITE && !in_line);
	__u64 offset = RDMABLK_LE64(cmd->offset);
	__u32 length = RDMABLK_LE32(cmd->length);

	if (cmd->rsvd0 || !rdmablk_is_zero(cmd->rsvd1, sizeof(cmd->rsvd1)))
		return RDMABLK_S_INVALID_FIELD;
	if (!buffer && (cmd->rkey || cmd->addr ||
			(cmd->flags & RDMABLK_CMD_F_INVALIDATE)))
		return RDMABLK_S_INVALID_FIELD;
	if (payload != ((in_line || op == RDMABLK_OP_LOGIN) ? length : 0))
		return RDMABLK_S_INVALID_FIELD;

	switch (op) {
	case RDMABLK_OP_READ:
	case RDMABLK_OP_WRITE:
	case RDMABLK_OP_DISCARD:
	case RDMABLK_OP_WRITE_ZEROES:
		if (!length || ((offset | length) & (lim->logical_block_size - 1)) ||
		    (in_line && length > lim->max_inline))
			return RDMABLK_S_INVALID_FIELD;
		break;
	case RDMABLK_OP_FLUSH:
	case RDMABLK_OP_KEEPALIVE:
		if (offset || length)
			return RDMABLK_S_INVALID_FIELD;
		break;
	case RDMABLK_OP_LOGIN:
		if (offset || length != sizeof(struct rdmablk_login_req))
			return RDMABLK_S_INVALID_FIELD;
		break;
	case RDMABLK_OP_DISCOVER:
		if (offset)
			return RDMABLK_S_INVALID_FIELD;
		break;
	}
	return RDMABLK_S_SUCCESS;
}

/* The largest length of an opcode, or 0 when it has no length limit. */
static inline __u32 rdmablk_op_max_length(__u8 op,
					  const struct rdmablk_export_limits *lim)
{
	switch (op) {
	case RDMABLK_OP_READ:
	case RDMABLK_OP_WRITE:
		return lim->max_io_size;
	case RDMABLK_OP_DISCARD:
	case RDMABLK_OP_WRITE_ZEROES:
		return RDMABLK_MAX_DISCARD_SIZE;
	case RDMABLK_OP_DISCOVER:
		return RDMABLK_MAX_IO_SIZE;
	}
	return 0;
}

/**
 * rdmablk_check_cmd - target side: may this command be executed?
 * @cmd:	the received capsule.
 * @msg_len:	bytes received (capsule plus any payload).
 * @lim:	the session's limits; only read when @logged_in.
 * @logged_in:	whether this queue belongs to a logged-in session.
 *
 * Checks apply in this order (docs/protocol.md, "Validation order"):
 *  1. BAD_MESSAGE	shorter than a capsule (not answered: no tag).
 *  2. INVALID_OPCODE	unknown opcode.
 *  3. NOT_LOGGED_IN	READ..WRITE_ZEROES before login;
 *     INVALID_OPCODE	LOGIN or DISCOVER after login.
 *  4. UNSUPPORTED	FLUSH, DISCARD, WRITE_ZEROES not granted at login.
 *  5. READ_ONLY	WRITE, DISCARD, WRITE_ZEROES on a read-only export.
 *  6. INVALID_FIELD	unknown, disallowed or ungranted flags; reserved
 *			bytes; fields that must be zero; zero or misaligned
 *			length or offset; payload not matching the command.
 *  7. TOO_LARGE	length over rdmablk_op_max_length().
 *  8. OUT_OF_RANGE	offset + length past the end of the export.
 */
static inline int rdmablk_check_cmd(const struct rdmablk_cmd *cmd,
				    size_t msg_len,
				    const struct rdmablk_export_limits *lim,
				    bool logged_in)
{
	__u8 op;
	bool io;
	__u32 length, max;
	__u64 offset;
	int ret;

	if (msg_len < sizeof(*cmd))
		return RDMABLK_S_BAD_MESSAGE;
	op = cmd->opcode;
	io = rdmablk_op_is_io(op);
	if (!io && op != RDMABLK_OP_KEEPALIVE && op != RDMABLK_OP_LOGIN &&
	    op != RDMABLK_OP_DISCOVER)
		return RDMABLK_S_INVALID_OPCODE;
	if (io && !logged_in)
		return RDMABLK_S_NOT_LOGGED_IN;
	if (logged_in && (op == RDMABLK_OP_LOGIN || op == RDMABLK_OP_DISCOVER))
		return RDMABLK_S_INVALID_OPCODE;

	if (io) {
		if (rdmablk_op_feature(op) &&
		    !(lim->features & rdmablk_op_feature(op)))
			return RDMABLK_S_UNSUPPORTED;
		if (op != RDMABLK_OP_READ && op != RDMABLK_OP_FLUSH &&
		    (lim->export_flags & RDMABLK_EXPORT_F_READ_ONLY))
			return RDMABLK_S_READ_ONLY;
	}

	/* Before login nothing is negotiated, so no flag is allowed. */
	if (cmd->flags & ~rdmablk_op_flags(op, logged_in ? lim->features : 0))
		return RDMABLK_S_INVALID_FIELD;
	ret = rdmablk_check_cmd_fields(cmd, msg_len - sizeof(*cmd), lim);
	if (ret)
		return ret;

	max = rdmablk_op_max_length(op, lim);
	if (!max)
		return RDMABLK_S_SUCCESS;
	length = RDMABLK_LE32(cmd->length);
	if (length > max)
		return RDMABLK_S_TOO_LARGE;
	if (op == RDMABLK_OP_DISCOVER)
		return RDMABLK_S_SUCCESS;
	offset = RDMABLK_LE64(cmd->offset);
	if (offset > lim->size || length > lim->size - offset)
		return RDMABLK_S_OUT_OF_RANGE;
	return RDMABLK_S_SUCCESS;
}

/*
 * Target side: the payload of a LOGIN that rdmablk_check_cmd() accepted.
 * Unknown feature bits are ignored, not refused: the target grants only the
 * features it knows, which is how features are added within a version.
 * @max_io_size must be a multiple of the largest logical block size so that
 * the target can grant a multiple of any export's block size.
 */
static inline int rdmablk_check_login_req(const struct rdmablk_login_req *req)
{
	__u32 max_io = RDMABLK_LE32(req->max_io_size);
	__u16 depth = RDMABLK_LE16(req->queue_depth);

	if (req->rsvd0 || !rdmablk_is_zero(req->rsvd1, sizeof(req->rsvd1)) ||
	    rdmablk_check_name(req->export_name, sizeof(req->export_name)) ||
	    rdmablk_check_name(req->host_id, sizeof(req->host_id)) ||
	    !max_io || max_io % RDMABLK_MAX_LOGICAL_BLOCK_SIZE ||
	    max_io > RDMABLK_MAX_IO_SIZE)
		return RDMABLK_S_INVALID_FIELD;
	if (RDMABLK_LE16(req->nr_queues) >= RDMABLK_MAX_QUEUES ||
	    !depth || depth > RDMABLK_MAX_QUEUE_DEPTH)
		return RDMABLK_S_QUEUE_LIMIT;
	return RDMABLK_S_SUCCESS;
}

/*
 * Initiator side: the login response to @req, the request it sent. Every
 * grant must lie within what was asked; anything else is BAD_MESSAGE.
 */
static inline int rdmablk_check_login_rsp(const struct rdmablk_login_rsp *rsp,
					  const struct rdmablk_login_req *req)
{
	__u32 features = RDMABLK_LE32(rsp->features);
	__u32 lbs = RDMABLK_LE32(rsp->logical_block_size);
	__u32 pbs = RDMABLK_LE32(rsp->physical_block_size);
	__u32 max_io = RDMABLK_LE32(rsp->max_io_size);
	__u32 max_inline = RDMABLK_LE32(rsp->max_inline);
	__u64 size = RDMABLK_LE64(rsp->size);
	__u64 region_addr = RDMABLK_LE64(rsp->region_addr);
	__u64 region_size = RDMABLK_LE64(rsp->region_size);
	__u16 depth = RDMABLK_LE16(rsp->queue_depth);

	if (rsp->rsvd0 || !rdmablk_is_zero(rsp->rsvd1, sizeof(rsp->rsvd1)) ||
	    (features & ~RDMABLK_LE32(req->features)) ||
	    (RDMABLK_LE32(rsp->export_flags) & ~RDMABLK_EXPORT_F_ALL) ||
	    !rsp->session_id)
		return RDMABLK_S_BAD_MESSAGE;
	if (!rdmablk_block_size_ok(lbs, RDMABLK_MIN_BLOCK_SIZE,
				   RDMABLK_MAX_LOGICAL_BLOCK_SIZE) ||
	    !rdmablk_block_size_ok(pbs, lbs, RDMABLK_MAX_PHYSICAL_BLOCK_SIZE) ||
	    (size & (lbs - 1)) ||
	    (RDMABLK_LE32(rsp->optimal_io_size) & (lbs - 1)))
		return RDMABLK_S_BAD_MESSAGE;
	if (RDMABLK_LE16(rsp->nr_queues) > RDMABLK_LE16(req->nr_queues) ||
	    !depth || depth > RDMABLK_LE16(req->queue_depth) ||
	    !max_io || (max_io & (lbs - 1)) ||
	    max_io > RDMABLK_LE32(req->max_io_size))
		return RDMABLK_S_BAD_MESSAGE;
	/* max_inline and the region are given exactly when granted. */
	if (features & RDMABLK_FEAT_INLINE_WRITE) {
		if (!max_inline || max_inline > RDMABLK_MAX_INLINE_SIZE)
			return RDMABLK_S_BAD_MESSAGE;
	} else if (max_inline) {
		return RDMABLK_S_BAD_MESSAGE;
	}
	if (features & RDMABLK_FEAT_DIRECT) {
		if (region_size != size || region_addr + region_size < region_addr)
			return RDMABLK_S_BAD_MESSAGE;
	} else if (region_addr || rsp->region_rkey || region_size) {
		return RDMABLK_S_BAD_MESSAGE;
	}
	/* the identity likewise: well formed when granted, else all zero */
	if (features & RDMABLK_FEAT_EXPORT_ID) {
		if (!rdmablk_export_id_ok(rsp->export_id))
			return RDMABLK_S_BAD_MESSAGE;
	} else if (!rdmablk_is_zero(rsp->export_id, sizeof(rsp->export_id))) {
		return RDMABLK_S_BAD_MESSAGE;
	}
	return RDMABLK_S_SUCCESS;
}

/*
 * Initiator side: a response of @len bytes to @cmd, the command its tag
 * names (an unknown tag is BAD_MESSAGE before this is called). The payload
 * of a successful LOGIN, a struct rdmablk_login_rsp, is checked separately.
 */
static inline int rdmablk_check_rsp(const struct rdmablk_rsp *rsp, size_t len,
				    const struct rdmablk_cmd *cmd)
{
	__u16 status;
	__u32 length, rkey;
	size_t payload = 0;

	if (len < sizeof(*rsp))
		return RDMABLK_S_BAD_MESSAGE;
	status = RDMABLK_LE16(rsp->status);
	length = RDMABLK_LE32(rsp->length);
	rkey = RDMABLK_LE32(rsp->rkey);
	if (rsp->rsvd0 || status >= RDMABLK_S_MAX || rsp->opcode != cmd->opcode)
		return RDMABLK_S_BAD_MESSAGE;
	/* Only the key the command offered for invalidation may be named. */
	if (rkey && (!(cmd->flags & RDMABLK_CMD_F_INVALIDATE) ||
		     rkey != RDMABLK_LE32(cmd->rkey)))
		return RDMABLK_S_BAD_MESSAGE;

	switch (cmd->opcode) {
	case RDMABLK_OP_READ:
	case RDMABLK_OP_WRITE:
		if (status == RDMABLK_S_SUCCESS ?
		    length != RDMABLK_LE32(cmd->length) :
		    length > RDMABLK_LE32(cmd->length))
			return RDMABLK_S_BAD_MESSAGE;
		break;
	case RDMABLK_OP_LOGIN:
		if (status == RDMABLK_S_SUCCESS)
			payload = sizeof(struct rdmablk_login_rsp);
		if (length != payload)
			return RDMABLK_S_BAD_MESSAGE;
		break;
	case RDMABLK_OP_DISCOVER:
		break;	/* the size of the whole list, whatever fit */
	default:
		if (length)
			return RDMABLK_S_BAD_MESSAGE;
	}
	return len == sizeof(*rsp) + payload ? RDMABLK_S_SUCCESS :
					       RDMABLK_S_BAD_MESSAGE;
}

/*
 * Initiator side: one entry of a DISCOVER answer. Feature bits the
 * initiator does not know are allowed: it just will not ask for them.
 */
static inline int
rdmablk_check_discover_entry(const struct rdmablk_discover_entry *e)
{
	__u32 lbs = RDMABLK_LE32(e->logical_block_size);

	if (rdmablk_check_name(e->export_name, sizeof(e->export_name)) ||
	    !rdmablk_block_size_ok(lbs, RDMABLK_MIN_BLOCK_SIZE,
				   RDMABLK_MAX_LOGICAL_BLOCK_SIZE) ||
	    (RDMABLK_LE64(e->size) & (lbs - 1)) ||
	    (RDMABLK_LE32(e->export_flags) & ~RDMABLK_EXPORT_F_ALL) ||
	    e->needs_secret > 1 || !rdmablk_is_zero(e->rsvd, sizeof(e->rsvd)))
		return RDMABLK_S_BAD_MESSAGE;
	return RDMABLK_S_SUCCESS;
}

#endif /* RDMABLK_PROTO_CHECK_H */

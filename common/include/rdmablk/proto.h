/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * rdmablk wire protocol: the messages exchanged between an initiator (the
 * kernel driver or librdmablk) and rdmablk-target over an RDMA RC queue pair.
 *
 * This header is shared by the kernel module and by C/C++ userspace, so it
 * uses only <linux/types.h> fixed-width little-endian types, explicit
 * reserved padding instead of packed attributes, and pins every layout with
 * static_assert. docs/protocol.md is the prose description of this file.
 *
 * Summary of a session:
 *   1. Queue 0 connects through rdma_cm with struct rdmablk_cm_req as private
 *      data (ticket all zero). The target accepts with struct rdmablk_cm_rep,
 *      which carries a fresh 32-byte authentication nonce, or rejects with
 *      struct rdmablk_cm_rej naming a typed reason.
 *   2. The initiator SENDs a LOGIN capsule followed inline by struct
 *      rdmablk_login_req (export name, host id, HMAC-SHA256 of the nonce).
 *      The target answers with struct rdmablk_rsp followed by struct
 *      rdmablk_login_rsp (session id, ticket, export parameters and, for
 *      direct mode, the export region).
 *   3. Queues 1..N connect with the session id and ticket in their
 *      rdmablk_cm_req and are ready for I/O as soon as they are established.
 *   4. I/O: each SEND carries one struct rdmablk_cmd (64 bytes), optionally
 *      followed by inline write data. The target answers each command with
 *      one struct rdmablk_rsp (16 bytes), sent with SEND_WITH_INV naming the
 *      command's rkey when the initiator asked for remote invalidation.
 */
#ifndef RDMABLK_PROTO_H
#define RDMABLK_PROTO_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/build_bug.h>	/* static_assert */
#elif !defined(__cplusplus)
#include <assert.h>		/* static_assert */
#endif

#define RDMABLK_PROTO_VERSION 1
/* "RBLK" read as a little-endian __le32. */
#define RDMABLK_MAGIC 0x4b4c4252u
#define RDMABLK_DEFAULT_RDMA_PORT 7471
#define RDMABLK_DEFAULT_NBD_PORT 10809

/* Size limits every side agrees on. */
#define RDMABLK_CM_PRIVATE_DATA_MAX 56	/* rdma_cm REQ private data on IB */
#define RDMABLK_EXPORT_NAME_MAX 128	/* bytes, NUL-padded, no NUL inside */
#define RDMABLK_HOST_ID_MAX 64		/* bytes, NUL-padded, no NUL inside */
#define RDMABLK_NONCE_LEN 32
#define RDMABLK_MAC_LEN 32		/* HMAC-SHA256 */
#define RDMABLK_TICKET_LEN 16
#define RDMABLK_MAX_QUEUES 256
#define RDMABLK_MAX_QUEUE_DEPTH 1024
#define RDMABLK_MAX_IO_SIZE (8u << 20)	/* hard ceiling; login negotiates less */
#define RDMABLK_MAX_INLINE_SIZE (16u << 10)
/* DISCARD and WRITE_ZEROES move no data, so their ceiling is larger. */
#define RDMABLK_MAX_DISCARD_SIZE (1u << 30)
#define RDMABLK_MIN_BLOCK_SIZE 512
/* Linux wants a logical block no larger than a page; 4 KiB is the smallest. */
#define RDMABLK_MAX_LOGICAL_BLOCK_SIZE 4096
#define RDMABLK_MAX_PHYSICAL_BLOCK_SIZE 65536

/*
 * Keepalive: an initiator SENDs a KEEPALIVE on queue 0 when it has sent
 * nothing there for the interval; the target may disconnect a session whose
 * queue 0 has received nothing for the timeout.
 */
#define RDMABLK_KEEPALIVE_INTERVAL_MS 5000
#define RDMABLK_KEEPALIVE_TIMEOUT_MS 30000

/* Command opcodes (struct rdmablk_cmd.opcode). */
enum rdmablk_opcode {
	RDMABLK_OP_READ = 0x01,		/* target RDMA WRITEs into addr/rkey */
	RDMABLK_OP_WRITE = 0x02,	/* target RDMA READs from addr/rkey, or inline */
	RDMABLK_OP_FLUSH = 0x03,	/* make every completed write durable */
	RDMABLK_OP_DISCARD = 0x04,	/* deallocate; contents become unspecified */
	RDMABLK_OP_WRITE_ZEROES = 0x05,	/* contents read back as zeroes */
	RDMABLK_OP_KEEPALIVE = 0x10,	/* no-op answered with SUCCESS */
	RDMABLK_OP_LOGIN = 0x20,	/* queue 0 only; rdmablk_login_req inline */
	RDMABLK_OP_DISCOVER = 0x21,	/* queue 0, before login; list into addr/rkey */
};

/* Command flags (struct rdmablk_cmd.flags). */
#define RDMABLK_CMD_F_FUA (1u << 0)	/* WRITE/WRITE_ZEROES durable before answer */
#define RDMABLK_CMD_F_INLINE (1u << 1)	/* WRITE data follows the capsule */
#define RDMABLK_CMD_F_INVALIDATE (1u << 2) /* answer with SEND_WITH_INV(rkey) */
#define RDMABLK_CMD_F_NO_UNMAP (1u << 3)   /* WRITE_ZEROES: keep allocation */
#define RDMABLK_CMD_F_ALL (RDMABLK_CMD_F_FUA | RDMABLK_CMD_F_INLINE | \
			   RDMABLK_CMD_F_INVALIDATE | RDMABLK_CMD_F_NO_UNMAP)

/*
 * Typed status codes: command results, login results and connection reject
 * reasons all use this one space. rdmablk_status_str() names each.
 */
enum rdmablk_status {
	RDMABLK_S_SUCCESS = 0,
	RDMABLK_S_INVALID_OPCODE = 1,	/* opcode unknown or not allowed now */
	RDMABLK_S_INVALID_FIELD = 2,	/* flags, alignment or reserved bits */
	RDMABLK_S_OUT_OF_RANGE = 3,	/* offset + length past the export end */
	RDMABLK_S_TOO_LARGE = 4,	/* length over the negotiated maximum */
	RDMABLK_S_READ_ONLY = 5,	/* write to a read-only export */
	RDMABLK_S_IO_ERROR = 6,		/* backend I/O failed */
	RDMABLK_S_NO_SPACE = 7,		/* backend is full */
	RDMABLK_S_UNSUPPORTED = 8,	/* export cannot do this operation */
	RDMABLK_S_TRANSPORT = 9,	/* RDMA transfer of the data failed */
	RDMABLK_S_NOT_LOGGED_IN = 10,	/* I/O before a successful login */
	RDMABLK_S_VERSION = 11,		/* protocol version not supported */
	RDMABLK_S_BAD_MESSAGE = 12,	/* malformed private data or message */
	RDMABLK_S_UNKNOWN_EXPORT = 13,	/* no export of that name */
	RDMABLK_S_HOST_DENIED = 14,	/* host not in the export's allow list */
	RDMABLK_S_AUTH_FAILED = 15,	/* missing or wrong HMAC */
	RDMABLK_S_BAD_TICKET = 16,	/* session unknown or ticket mismatch */
	RDMABLK_S_QUEUE_LIMIT = 17,	/* queue id or depth over the limit */
	RDMABLK_S_NO_RESOURCES = 18,	/* target out of memory or QPs */
	RDMABLK_S_SHUTTING_DOWN = 19,	/* target is stopping */
	RDMABLK_S_INTERNAL = 20,	/* target bug; see its log */
	RDMABLK_S_MAX
};

/* Feature bits (login request: wanted; login response: granted). */
#define RDMABLK_FEAT_INLINE_WRITE (1u << 0)	/* small writes in the capsule */
#define RDMABLK_FEAT_REMOTE_INV (1u << 1)	/* SEND_WITH_INV answers */
#define RDMABLK_FEAT_DIRECT (1u << 2)		/* export region handed out */
#define RDMABLK_FEAT_FLUSH (1u << 3)
#define RDMABLK_FEAT_FUA (1u << 4)
#define RDMABLK_FEAT_DISCARD (1u << 5)
#define RDMABLK_FEAT_WRITE_ZEROES (1u << 6)
#define RDMABLK_FEAT_EXPORT_ID (1u << 7)	/* login response names the disk */
#define RDMABLK_FEAT_ALL (RDMABLK_FEAT_INLINE_WRITE | RDMABLK_FEAT_REMOTE_INV | \
			  RDMABLK_FEAT_DIRECT | RDMABLK_FEAT_FLUSH | \
			  RDMABLK_FEAT_FUA | RDMABLK_FEAT_DISCARD | \
			  RDMABLK_FEAT_WRITE_ZEROES | RDMABLK_FEAT_EXPORT_ID)

/*
 * The identity of the disk behind an export (RDMABLK_FEAT_EXPORT_ID): the
 * same through every target that serves that disk (the gateways of one RBD
 * image, the targets of one shared file), so dm-multipath can group the
 * paths. 1..32 bytes of [A-Za-z0-9._:-], NUL-padded.
 */
#define RDMABLK_EXPORT_ID_MAX 32

/* Export flags (login response). */
#define RDMABLK_EXPORT_F_READ_ONLY (1u << 0)
#define RDMABLK_EXPORT_F_ROTATIONAL (1u << 1)
#define RDMABLK_EXPORT_F_MULTI_CONN (1u << 2)	/* flush covers all sessions */
#define RDMABLK_EXPORT_F_ALL (RDMABLK_EXPORT_F_READ_ONLY | \
			      RDMABLK_EXPORT_F_ROTATIONAL | \
			      RDMABLK_EXPORT_F_MULTI_CONN)

/**
 * struct rdmablk_cm_req - rdma_cm connect private data, initiator to target.
 * @magic:	RDMABLK_MAGIC.
 * @version:	RDMABLK_PROTO_VERSION of the initiator.
 * @qid:	queue id; 0 opens a session (then @session_id and @ticket are
 *		zero), 1..N join the session named by @session_id.
 * @queue_depth: commands the initiator keeps in flight on this queue.
 * @flags:	reserved, zero.
 * @session_id:	target-chosen session id from the login response.
 * @ticket:	secret from the login response that lets this queue join.
 */
struct rdmablk_cm_req {
	__le32 magic;
	__le16 version;
	__le16 qid;
	__le16 queue_depth;
	__le16 flags;
	__le32 rsvd0;
	__le64 session_id;
	__u8 ticket[RDMABLK_TICKET_LEN];
	__u8 rsvd1[16];
};

/**
 * struct rdmablk_cm_rep - rdma_cm accept private data, target to initiator.
 * @magic:	RDMABLK_MAGIC.
 * @version:	protocol version the target speaks on this connection.
 * @qid:	echo of the request's queue id.
 * @queue_depth: depth granted (<= requested); the initiator must not have
 *		more commands than this in flight on the queue.
 * @max_inline: payload bytes the target's receive buffers on this queue
 *		hold after a capsule; at least sizeof(struct rdmablk_login_req)
 *		on queue 0. Inline writes are bounded by the login's max_inline.
 * @nonce:	random challenge for the login HMAC (queue 0 only, else zero).
 */
struct rdmablk_cm_rep {
	__le32 magic;
	__le16 version;
	__le16 qid;
	__le16 queue_depth;
	__le16 rsvd0;
	__le32 max_inline;
	__u8 nonce[RDMABLK_NONCE_LEN];
	__u8 rsvd1[8];
};

/**
 * struct rdmablk_cm_rej - rdma_cm reject private data, target to initiator.
 * @magic:	RDMABLK_MAGIC.
 * @version:	highest protocol version the target speaks.
 * @status:	enum rdmablk_status naming the reason.
 */
struct rdmablk_cm_rej {
	__le32 magic;
	__le16 version;
	__le16 status;
	__u8 rsvd[8];
};

/**
 * struct rdmablk_cmd - command capsule, one per SEND, initiator to target.
 * @opcode:	enum rdmablk_opcode.
 * @flags:	RDMABLK_CMD_F_*.
 * @tag:	initiator's command id, unique among its commands in flight on
 *		this queue; echoed in the response.
 * @offset:	byte offset in the export (multiple of its logical block size);
 *		zero for FLUSH, KEEPALIVE, LOGIN and DISCOVER.
 * @length:	byte length (multiple of the logical block size; zero for
 *		FLUSH and KEEPALIVE; sizeof(struct rdmablk_login_req) for
 *		LOGIN; the buffer size for DISCOVER).
 * @rkey:	remote key of the initiator's data buffer (READ, non-inline
 *		WRITE, DISCOVER); the key retired by SEND_WITH_INV.
 * @addr:	address of that buffer in the initiator's key space.
 *
 * An inline WRITE, and a LOGIN, carry @length bytes right after the capsule
 * in the same SEND; @rkey and @addr are then zero, as they are for every
 * opcode without a buffer. rdmablk_check_cmd() lists every rule.
 */
struct rdmablk_cmd {
	__u8 opcode;
	__u8 flags;
	__le16 rsvd0;
	__le32 tag;
	__le64 offset;
	__le32 length;
	__le32 rkey;
	__le64 addr;
	__u8 rsvd1[32];
};

/**
 * struct rdmablk_rsp - response, one per command, target to initiator.
 * @tag:	the command's tag.
 * @status:	enum rdmablk_status.
 * @opcode:	the command's opcode, for the initiator to cross-check.
 * @length:	bytes transferred (READ/WRITE), of the payload following
 *		this response (LOGIN), or of the whole export list (DISCOVER;
 *		more than the command's length means the list was cut short);
 *		0 otherwise.
 * @rkey:	the key the target invalidated remotely, or 0.
 */
struct rdmablk_rsp {
	__le32 tag;
	__le16 status;
	__u8 opcode;
	__u8 rsvd0;
	__le32 length;
	__le32 rkey;
};

/**
 * struct rdmablk_login_req - payload of a LOGIN capsule.
 * @features:	RDMABLK_FEAT_* the initiator wants.
 * @nr_queues:	I/O queues the initiator wants besides queue 0.
 * @queue_depth: depth it wants on each queue.
 * @max_io_size: largest single transfer it will issue.
 * @export_name: export to open, NUL-padded.
 * @host_id:	initiator's host id (e.g. a UUID), NUL-padded; matched
 *		against the export's allow list together with its address.
 * @mac:	HMAC-SHA256(secret, nonce || export_name || host_id), the two
 *		names as their full NUL-padded fields; all zero when the
 *		initiator has no secret.
 */
struct rdmablk_login_req {
	__le32 features;
	__le16 nr_queues;
	__le16 queue_depth;
	__le32 max_io_size;
	__le32 rsvd0;
	__u8 export_name[RDMABLK_EXPORT_NAME_MAX];
	__u8 host_id[RDMABLK_HOST_ID_MAX];
	__u8 mac[RDMABLK_MAC_LEN];
	__u8 rsvd1[16];
};

/**
 * struct rdmablk_login_rsp - payload after the rdmablk_rsp of a LOGIN.
 * @features:	RDMABLK_FEAT_* granted (a subset of those asked for).
 * @export_flags: RDMABLK_EXPORT_F_*.
 * @session_id:	id for rdmablk_cm_req of further queues.
 * @ticket:	secret for rdmablk_cm_req of further queues.
 * @size:	export size in bytes (multiple of @logical_block_size).
 * @nr_queues:	I/O queues granted (<= asked for).
 * @queue_depth: depth granted on each queue.
 * @max_io_size: largest transfer per command (multiple of the block size).
 * @max_inline: largest inline write payload (0 unless INLINE_WRITE).
 * @logical_block_size: smallest addressable unit (512..4096, power of 2).
 * @physical_block_size: preferred unit (logical..65536, power of 2).
 * @optimal_io_size: preferred transfer size (multiple of the logical block
 *		size), or 0.
 * @region_addr: direct mode: export byte 0 in the target's key space.
 * @region_rkey: direct mode: rkey covering [@region_addr, +@region_size).
 * @region_size: direct mode: size of that region (== @size), else 0.
 * @export_id:	RDMABLK_FEAT_EXPORT_ID: the disk's identity (see
 *		RDMABLK_EXPORT_ID_MAX), else all zero.
 */
struct rdmablk_login_rsp {
	__le32 features;
	__le32 export_flags;
	__le64 session_id;
	__u8 ticket[RDMABLK_TICKET_LEN];
	__le64 size;
	__le16 nr_queues;
	__le16 queue_depth;
	__le32 max_io_size;
	__le32 max_inline;
	__le32 logical_block_size;
	__le32 physical_block_size;
	__le32 optimal_io_size;
	__le64 region_addr;
	__le32 region_rkey;
	__le32 rsvd0;
	__le64 region_size;
	__u8 export_id[RDMABLK_EXPORT_ID_MAX];
	__u8 rsvd1[8];
};

/**
 * struct rdmablk_discover_entry - one export in a DISCOVER answer; the
 * target RDMA WRITEs an array of these, sorted by name, for the exports
 * whose allow list admits the connection's address (no host id yet).
 */
struct rdmablk_discover_entry {
	__u8 export_name[RDMABLK_EXPORT_NAME_MAX];
	__le64 size;
	__le32 export_flags;
	__le32 logical_block_size;
	__le32 features;	/* RDMABLK_FEAT_* the export offers */
	__u8 needs_secret;	/* 1: LOGIN needs the HMAC of a secret */
	__u8 rsvd[11];
};

/* The largest message an initiator must be able to receive. */
#define RDMABLK_MAX_RECV_SIZE \
	(sizeof(struct rdmablk_rsp) + sizeof(struct rdmablk_login_rsp))

static_assert(sizeof(struct rdmablk_cm_req) == 56, "rdmablk_cm_req");
static_assert(sizeof(struct rdmablk_cm_rep) == 56, "rdmablk_cm_rep");
static_assert(sizeof(struct rdmablk_cm_rej) == 16, "rdmablk_cm_rej");
static_assert(sizeof(struct rdmablk_cmd) == 64, "rdmablk_cmd");
static_assert(sizeof(struct rdmablk_rsp) == 16, "rdmablk_rsp");
static_assert(sizeof(struct rdmablk_login_req) == 256, "rdmablk_login_req");
static_assert(sizeof(struct rdmablk_login_rsp) == 128, "rdmablk_login_rsp");
static_assert(sizeof(struct rdmablk_discover_entry) == 160,
	      "rdmablk_discover_entry");
static_assert(sizeof(struct rdmablk_cm_req) <= RDMABLK_CM_PRIVATE_DATA_MAX,
	      "cm_req fits private data");

#endif /* RDMABLK_PROTO_H */

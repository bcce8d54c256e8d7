/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * rdmablk control interface: ioctls on the misc device /dev/rdmablk-control
 * that map, unmap and list kernel block devices /dev/rdmablkN.
 *
 * UAPI style like proto.h: fixed-width native-endian types (this is a local
 * ABI between the rdmablk CLI and the module, not a wire format), explicit
 * reserved fields that must be zero, every layout pinned by static_assert,
 * and a version field first in every struct. The kernel validates every
 * field (docs/kernel.md lists the rules).
 */
#ifndef RDMABLK_CTL_H
#define RDMABLK_CTL_H

#include <linux/types.h>
#include <linux/ioctl.h>
#ifdef __KERNEL__
#include <linux/build_bug.h>	/* static_assert */
#elif !defined(__cplusplus)
#include <assert.h>		/* static_assert */
#endif

#define RDMABLK_CTL_VERSION 1
#define RDMABLK_CTL_NAME "rdmablk-control"	/* /dev/rdmablk-control */
#define RDMABLK_CTL_SECRET_MAX 1024
#define RDMABLK_CTL_DEFAULT_QUEUE_DEPTH 128
#define RDMABLK_CTL_DEFAULT_RECONNECT_DELAY 10	/* seconds */
#define RDMABLK_CTL_DEFAULT_CTRL_LOSS_TMO 600	/* seconds */
#define RDMABLK_CTL_DEFAULT_IO_TIMEOUT 30	/* seconds */
#define RDMABLK_CTL_MAX_IO_TIMEOUT 3600		/* seconds */
#define RDMABLK_CTL_MAX_POLL_QUEUES 64

/* struct rdmablk_ctl_map.mode */
enum rdmablk_ctl_mode {
	RDMABLK_CTL_MODE_COMMAND = 0,	/* target moves the data (any export) */
	RDMABLK_CTL_MODE_DIRECT = 1,	/* initiator RDMA READ/WRITEs the region */
};

/* struct rdmablk_ctl_map.flags */
#define RDMABLK_CTL_F_READ_ONLY (1u << 0)	/* expose the disk read-only */
#define RDMABLK_CTL_F_FAST_IO_FAIL (1u << 1)	/* fast_io_fail_tmo is set */
#define RDMABLK_CTL_F_ALL (RDMABLK_CTL_F_READ_ONLY | RDMABLK_CTL_F_FAST_IO_FAIL)
#define RDMABLK_CTL_MAX_FAST_IO_FAIL_TMO 3600	/* seconds */

/* struct rdmablk_ctl_info.state */
enum rdmablk_ctl_state {
	RDMABLK_CTL_STATE_LIVE = 0,		/* connected, I/O flows */
	RDMABLK_CTL_STATE_RECONNECTING = 1,	/* connection lost, retrying */
	RDMABLK_CTL_STATE_DEAD = 2,		/* gave up: I/O fails */
	RDMABLK_CTL_STATE_DELETING = 3,		/* being unmapped */
};

/**
 * struct rdmablk_ctl_map - RDMABLK_CTL_MAP: log in to an export, create a disk.
 * @version:	RDMABLK_CTL_VERSION.
 * @flags:	RDMABLK_CTL_F_*.
 * @family:	AF_INET or AF_INET6.
 * @port:	rdma_cm port in host byte order; 0 means 7471.
 * @scope_id:	IPv6 scope (interface index) for link-local addresses, else 0.
 * @addr:	the target's address: 4 bytes (IPv4) or 16 (IPv6), rest zero.
 * @export_name: NUL-padded name (the wire rules of docs/protocol.md).
 * @host_id:	NUL-padded host id.
 * @secret_len:	bytes of @secret in use, 0..1024 (0: no secret).
 * @nr_queues:	I/O queues wanted, 1..255; 0 means one per online CPU.
 * @queue_depth: commands in flight per queue, 1..1024; 0 means 128.
 * @mode:	enum rdmablk_ctl_mode.
 * @reconnect_delay: seconds between reconnect attempts, 0 means 10.
 * @ctrl_loss_tmo: seconds to keep trying before failing I/O for good;
 *		0 means 600, -1 forever.
 * @io_timeout:	seconds a request may go unanswered before the connection
 *		counts as broken and is re-established, 1..3600; 0 means 30.
 * @index:	out: N of /dev/rdmablkN.
 * @status:	out: enum rdmablk_status of a refusal by the target, else 0.
 * @poll_queues: I/O queues to add for polled I/O (HCTX_TYPE_POLL, io_uring
 *		hipri), 0..RDMABLK_CTL_MAX_POLL_QUEUES; 0 means none.
 * @fast_io_fail_tmo: with RDMABLK_CTL_F_FAST_IO_FAIL: seconds after a lost
 *		connection (0..3600) from which I/O fails with a path error
 *		while reconnecting goes on, so dm-multipath sends it down
 *		another path; must be 0 without the flag (I/O then waits
 *		until ctrl_loss_tmo).
 * @secret:	the export's secret (only @secret_len bytes are read).
 */
struct rdmablk_ctl_map {
	__u32 version;
	__u32 flags;
	__u16 family;
	__u16 port;
	__u32 scope_id;
	__u8 addr[16];
	__u8 export_name[128];
	__u8 host_id[64];
	__u32 secret_len;
	__u16 nr_queues;
	__u16 queue_depth;
	__u32 mode;
	__u32 reconnect_delay;
	__s32 ctrl_loss_tmo;
	__u32 io_timeout;
	__u32 index;
	__u32 status;
	__u16 poll_queues;
	__u16 rsvd0;
	__u32 fast_io_fail_tmo;
	__u8 rsvd1[24];
	__u8 secret[RDMABLK_CTL_SECRET_MAX];
};

/**
 * struct rdmablk_ctl_unmap - RDMABLK_CTL_UNMAP: delete /dev/rdmablk@index.
 * Outstanding I/O finishes (or fails if the target is gone) first.
 */
struct rdmablk_ctl_unmap {
	__u32 version;
	__u32 index;
	__u32 flags;	/* 0 */
	__u32 rsvd;	/* 0 */
};

/**
 * struct rdmablk_ctl_info - one device, as LIST and STATUS report it.
 * @index:	N of /dev/rdmablkN.
 * @state:	enum rdmablk_ctl_state.
 * @family, @port, @addr: the target (as mapped).
 * @mode:	enum rdmablk_ctl_mode.
 * @export_name, @host_id: as sent at login.
 * @size:	bytes.
 * @session_id:	the target's session id of the current login.
 * @features:	RDMABLK_FEAT_* granted.
 * @export_flags: RDMABLK_EXPORT_F_*.
 * @nr_queues:	I/O queues connected (hardware queues of the disk).
 * @queue_depth: depth per queue.
 * @max_io_size: largest READ/WRITE.
 * @logical_block_size: bytes.
 * @flags:	RDMABLK_CTL_F_* as mapped.
 * @reconnects:	sessions re-established after a lost connection.
 * @timeouts:	requests that timed out (each starts recovery).
 * @io_errors:	requests completed with an error.
 * @max_inline:	largest WRITE sent inline in its capsule, 0: none.
 */
struct rdmablk_ctl_info {
	__u32 index;
	__u32 state;
	__u16 family;
	__u16 port;
	__u32 mode;
	__u8 addr[16];
	__u8 export_name[128];
	__u8 host_id[64];
	__u64 size;
	__u64 session_id;
	__u32 features;
	__u32 export_flags;
	__u16 nr_queues;
	__u16 queue_depth;
	__u32 max_io_size;
	__u32 logical_block_size;
	__u32 flags;
	__u32 reconnects;
	__u32 timeouts;
	__u64 io_errors;
	__u32 max_inline;
	__u32 rsvd;
};

/**
 * struct rdmablk_ctl_list - RDMABLK_CTL_LIST: every device, by index.
 * @version:	RDMABLK_CTL_VERSION.
 * @count:	in: room in @entries; out: number of devices (may be more
 *		than the room: only the room is filled, call again).
 * @entries:	user pointer to an array of struct rdmablk_ctl_info.
 */
struct rdmablk_ctl_list {
	__u32 version;
	__u32 count;
	__u64 entries;
	__u8 rsvd[16];
};

/** struct rdmablk_ctl_status - RDMABLK_CTL_STATUS: one device by @index. */
struct rdmablk_ctl_status {
	__u32 version;
	__u32 index;
	struct rdmablk_ctl_info info;	/* out */
};

#define RDMABLK_CTL_IOC_MAGIC 0xd8
#define RDMABLK_CTL_MAP _IOWR(RDMABLK_CTL_IOC_MAGIC, 1, struct rdmablk_ctl_map)
#define RDMABLK_CTL_UNMAP _IOW(RDMABLK_CTL_IOC_MAGIC, 2, struct rdmablk_ctl_unmap)
#define RDMABLK_CTL_LIST _IOWR(RDMABLK_CTL_IOC_MAGIC, 3, struct rdmablk_ctl_list)
#define RDMABLK_CTL_STATUS _IOWR(RDMABLK_CTL_IOC_MAGIC, 4, struct rdmablk_ctl_status)

static_assert(sizeof(struct rdmablk_ctl_map) == 288 + RDMABLK_CTL_SECRET_MAX,
	      "rdmablk_ctl_map");
static_assert(sizeof(struct rdmablk_ctl_unmap) == 16, "rdmablk_ctl_unmap");
static_assert(sizeof(struct rdmablk_ctl_info) == 288, "rdmablk_ctl_info");
static_assert(sizeof(struct rdmablk_ctl_list) == 32, "rdmablk_ctl_list");
static_assert(sizeof(struct rdmablk_ctl_status) == 296, "rdmablk_ctl_status");

#endif /* RDMABLK_CTL_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rdmablk: private header of the kernel driver.
 *
 * main.c	blk-mq disk, device lifetime, module init/exit
 * queue.c	one rdma_cm id + RC QP per queue: buffers, connect, drain, teardown
 * login.c	LOGIN (HMAC) and KEEPALIVE on queue 0, connect of all queues
 * io.c		blk-mq data path: queue_rq, FRWR/inline mapping, completions
 * recovery.c	rdmablk_error, err_work, reconnect_work, RDMA device removal
 * ctl.c	/dev/rdmablk-control ioctls
 * sysfs.c	/sys/block/rdmablkN/rdmablk/ attributes
 */
#ifndef RDMABLK_KMOD_H
#define RDMABLK_KMOD_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/completion.h>
#include <linux/mutex.h>
#include <linux/socket.h>
#include <linux/workqueue.h>
#include <rdma/ib_verbs.h>
#include <rdma/rdma_cm.h>

#include <rdmablk/proto_check.h>
#include <rdmablk/ctl.h>

#define RDMABLK_MINORS 16
/* Largest READ/WRITE we ask for: bounds the per-request scatterlist. */
#define RDMABLK_KMAX_IO_SIZE (512u << 10)
#define RDMABLK_MAX_PAGES (RDMABLK_KMAX_IO_SIZE / PAGE_SIZE + 1)
/*
 * Send entries for the pages of an inline WRITE, after the capsule's own:
 * RDMABLK_MAX_INLINE_SIZE spans at most this many page pieces.
 */
#define RDMABLK_INLINE_SEGS (RDMABLK_MAX_INLINE_SIZE / PAGE_SIZE + 1)
/* Tag of the internal commands on queue 0 (LOGIN, KEEPALIVE). */
#define RDMABLK_ITAG 0xffffffffu
#define RDMABLK_ICMD_SIZE \
	(sizeof(struct rdmablk_cmd) + sizeof(struct rdmablk_login_req))
#define RDMABLK_CM_TIMEOUT_MS 5000
#define RDMABLK_CONNECT_TIMEOUT (15 * HZ)
#define RDMABLK_LOGIN_TIMEOUT (10 * HZ)
#define RDMABLK_DRAIN_TIMEOUT (10 * HZ)	/* per work queue of a QP */
/*
 * Times a request is taken back by recovery and sent again before it fails:
 * a target that breaks the connection on one request every time (a bug, or
 * hostile) must not hold that request forever. nvme's nvme_max_retries.
 */
#define RDMABLK_MAX_RETRIES 5
/*
 * Command SENDs go unsignaled, and one SEND of each doorbell chain (the
 * last, or every this many) is signaled: its completion proves, by send
 * queue order, that every SEND before it in the chain is done too.
 */
#define RDMABLK_SIGNAL_EVERY 16

enum rdmablk_dev_state {
	RDMABLK_DEV_CONNECTING,	/* map in progress */
	RDMABLK_DEV_LIVE,	/* I/O flows */
	RDMABLK_DEV_RECONNECTING, /* connection lost: I/O waits, we retry */
	RDMABLK_DEV_DEAD,	/* gave up (ctrl_loss_tmo): I/O fails */
	RDMABLK_DEV_DELETING,	/* unmap in progress */
};

/* One posted receive buffer: a response (and the login answer). */
struct rdmablk_rsp_buf {
	struct ib_cqe cqe;
	u8 *buf;
	u64 dma;
};

/* Bits of rdmablk_queue.flags */
enum {
	RDMABLK_Q_CONNECTED,	/* established; disconnect + drain on teardown */
	RDMABLK_Q_LIVE,		/* error events lead to recovery */
	RDMABLK_Q_DRAIN,	/* was connected: drain before destroying */
};

/* One rdma_cm id and RC QP: queue 0 (login, keepalive) or an I/O queue. */
struct rdmablk_queue {
	struct rdmablk_dev *dev;
	u16 qid;
	u16 want_depth;		/* asked for in the cm_req */
	u16 depth;		/* granted in the cm_rep */
	u32 max_inline;		/* receive room after a capsule (cm_rep) */
	u8 inline_sges;		/* data entries a SEND may carry */
	unsigned long flags;
	bool poll;		/* HCTX_TYPE_POLL: the CQ is polled by .poll */
	atomic_long_t inline_writes;	/* per queue: no shared cache line */
	atomic_long_t doorbells;	/* ib_post_send calls of I/O chains */
	atomic_long_t signaled;		/* signaled command SENDs */
	atomic_long_t sends;		/* command SENDs */
	atomic_long_t polled;		/* completions reaped by .poll */
	/*
	 * Doorbell batching: queue_rq chains the work requests of a burst
	 * here and posts them once, at bd->last or commit_rqs.
	 */
	spinlock_t sq_lock;
	struct ib_send_wr *chain_first, *chain_last;
	struct rdmablk_req *unsig_tail;	/* last command SEND, unsignaled yet */
	struct rdmablk_req *covered;	/* SENDs before it in its group */
	unsigned int nr_covered;
	spinlock_t poll_lock;	/* one poller at a time; q->cq goes under it */
	struct rdma_cm_id *cm_id;
	struct ib_cq *cq;
	struct ib_qp *qp;
	struct rdmablk_rsp_buf *rsps;
	int nr_rsps;
	/*
	 * What a request needs of the RDMA device, by tag: its capsule and its
	 * FRWR MR. They live and die with the queue, so a reconnect may land
	 * on another RDMA device (the old one removed, a new one added).
	 */
	struct rdmablk_cmd *cmds;
	u64 cmds_dma;
	struct ib_mr **mrs;
	u16 nr_cmds;
	struct completion cm_done;
	int cm_error;		/* -errno of the connect */
	int cm_status;		/* rdmablk_status of a reject */
	struct rdmablk_cm_rep rep;
};

/*
 * Where a request is: one answer, kept next to the count of completion
 * events still to come. Moves are checked (rdmablk_req_move); a response
 * for a request that is not POSTED is a protocol error, any other
 * unexpected move a driver bug (WARN_ON_ONCE).
 */
enum rdmablk_req_state {
	RDMABLK_REQ_IDLE,	  /* blk-mq's: not started, being set up, or ended */
	RDMABLK_REQ_POSTED,	  /* on the wire: the response (or RDMA op) is due */
	RDMABLK_REQ_INVALIDATING, /* answered; our LOCAL_INV of its key is posted */
	RDMABLK_REQ_ANSWERED,	  /* answered, key dead: completes when ref is 0 */
	RDMABLK_REQ_REQUEUE,	  /* taken back by recovery: sent again */
	RDMABLK_REQ_FAILED,	  /* taken back by recovery: fails */
};

/* Per-request driver data (blk_mq_rq_to_pdu). */
struct rdmablk_req {
	struct ib_cqe reg_cqe;	/* REG_MR: unsignaled, errors only */
	struct ib_cqe send_cqe;	/* the capsule SEND, or the direct RDMA op */
	struct ib_cqe inv_cqe;	/* LOCAL_INV */
	struct rdmablk_queue *queue;
	struct rdmablk_cmd *cmd;	/* queue->cmds[tag], set by queue_rq */
	u64 cmd_dma;
	struct ib_mr *mr;		/* queue->mrs[tag] */
	enum rdmablk_req_state state;
	atomic_t ref;		/* completion events still to come */
	bool has_key;		/* its pages are registered under mr's key */
	/*
	 * Command mode: the unsignaled SENDs this request's signaled SEND
	 * proves done (linked by cover_next); its completion puts them.
	 */
	struct rdmablk_req *covers;
	struct rdmablk_req *cover_next;
	u8 retries;		/* requeued by recovery so far */
	u8 nr_sge;		/* capsule + inline pages in sge[] */
	int nents;		/* mapped sg entries, 0 if none */
	blk_status_t status;
	/* the work requests, posted from here */
	struct ib_reg_wr reg_wr;
	struct ib_send_wr send_wr;
	struct ib_rdma_wr rdma_wr;
	struct ib_sge sge[1 + RDMABLK_INLINE_SEGS];
	struct scatterlist sgl[];
};

static inline bool rdmablk_req_move(struct rdmablk_req *req,
				    enum rdmablk_req_state from,
				    enum rdmablk_req_state to)
{
	return cmpxchg(&req->state, from, to) == from;
}

struct rdmablk_dev {
	int index;
	enum rdmablk_dev_state state;
	spinlock_t lock;	/* state, removing, ipending */
	bool removing;		/* unmap or rmmod: no reconnect */
	struct list_head rm_entry;	/* rdmablk_remove_all() */
	struct list_head node;		/* rdmablk_devs: the export check */

	/* What was mapped (validated copy of struct rdmablk_ctl_map). */
	struct sockaddr_storage addr;
	struct rdmablk_ctl_map params;

	/* Transport */
	struct ib_device *ibdev;
	struct ib_pd *pd;
	struct rdmablk_queue *queues;	/* [0] and the I/O queues */
	int nr_queues;			/* connected entries of @queues */
	int nr_io_queues;		/* granted I/O queues (0: queue 0 does I/O) */
	int nr_poll_queues;		/* of them, the last ones: HCTX_TYPE_POLL */

	/* Login answer, CPU order */
	u64 session_id;
	u8 ticket[RDMABLK_TICKET_LEN];
	u64 size;
	u32 features;
	u32 export_flags;
	u32 max_io_size;
	u32 lbs, pbs, opt_io;
	u32 max_inline;		/* largest inline WRITE, 0: none */
	u16 io_depth;
	u64 region_addr;
	u32 region_rkey;
	/* the disk's identity (RDMABLK_FEAT_EXPORT_ID), "" if none: sysfs wwid */
	char export_id[RDMABLK_EXPORT_ID_MAX + 1];

	/* Internal command on queue 0: LOGIN, then KEEPALIVEs */
	u8 *icmd;			/* capsule + login payload */
	u64 icmd_dma;
	struct ib_cqe icmd_cqe;
	struct completion icmd_done;	/* the answer to LOGIN arrived */
	u8 irsp[RDMABLK_MAX_RECV_SIZE];
	u32 irsp_len;
	u8 iop;				/* opcode of the outstanding internal cmd */
	bool ipending;
	int ierror;			/* -errno: the LOGIN failed before its answer */
	unsigned long ka_sent;		/* jiffies of the outstanding KEEPALIVE */
	struct delayed_work ka_work;

	struct work_struct err_work;
	struct delayed_work reconnect_work;
	/*
	 * fast_io_fail_tmo: lost_at + the timeout on, I/O fails while we
	 * reconnect (fail_fast, set and cleared under recovery_mutex).
	 */
	struct delayed_work fail_fast_work;
	unsigned long lost_at;		/* jiffies the connection was lost */
	bool fail_fast;
	struct mutex recovery_mutex;	/* err_work, reconnect_work, unmap */
	bool quiesced;			/* by recovery; under recovery_mutex */
	unsigned long loss_deadline;	/* jiffies: give up reconnecting */
	u16 want_queues, want_depth;	/* asked for at the first login */

	/* Counters for list/status and sysfs */
	atomic_long_t reconnects;
	atomic_long_t io_errors;
	atomic_long_t timeouts;

	struct blk_mq_tag_set tag_set;
	bool tag_set_alloced;
	struct gendisk *disk;
};

extern struct workqueue_struct *rdmablk_wq;

/* queue.c */
int rdmablk_connect_queue(struct rdmablk_dev *dev, u16 qid, u16 depth);
int rdmablk_post_recv(struct rdmablk_queue *q, struct rdmablk_rsp_buf *r);
void rdmablk_stop_queues(struct rdmablk_dev *dev);
void rdmablk_release_transport(struct rdmablk_dev *dev);
void rdmablk_free_queues(struct rdmablk_dev *dev);

/* login.c */
int rdmablk_connect_all(struct rdmablk_dev *dev);
int rdmablk_login(struct rdmablk_dev *dev, u16 nr_queues, u16 depth);
void rdmablk_process_irsp(struct rdmablk_dev *dev, const u8 *buf, u32 len);
int rdmablk_status_errno(int status);
void rdmablk_ka_work(struct work_struct *work);

/* io.c */
int rdmablk_init_request(struct blk_mq_tag_set *set, struct request *rq,
			 unsigned int hctx_idx, unsigned int numa_node);
blk_status_t rdmablk_queue_rq(struct blk_mq_hw_ctx *hctx,
			      const struct blk_mq_queue_data *bd);
void rdmablk_complete_rq(struct request *rq);
void rdmablk_recv_done(struct ib_cq *cq, struct ib_wc *wc);
void rdmablk_commit_rqs(struct blk_mq_hw_ctx *hctx);
int rdmablk_poll(struct blk_mq_hw_ctx *hctx, struct io_comp_batch *iob);
int rdmablk_poll_cq(struct rdmablk_queue *q);

/* recovery.c */
void rdmablk_error(struct rdmablk_dev *dev, const char *why);
void rdmablk_wc_error(struct rdmablk_queue *q, struct ib_wc *wc,
		      const char *op);
void rdmablk_err_work(struct work_struct *work);
void rdmablk_reconnect_work(struct work_struct *work);
void rdmablk_fail_fast_work(struct work_struct *work);
void rdmablk_mark_removing(struct rdmablk_dev *dev);
void rdmablk_recovery_release(struct rdmablk_dev *dev);
void rdmablk_lose_ibdev(struct rdmablk_dev *dev, struct ib_device *ibdev);

/* main.c */
int rdmablk_map(struct rdmablk_ctl_map *params);
int rdmablk_unmap(u32 index);
int rdmablk_list(struct rdmablk_ctl_info __user *entries, u32 *count);
int rdmablk_status(u32 index, struct rdmablk_ctl_info *info);
enum rdmablk_ctl_state rdmablk_ctl_state(enum rdmablk_dev_state state);

/* sysfs.c */
extern const struct attribute_group *rdmablk_attr_groups[];

/* ctl.c */
int rdmablk_ctl_init(void);
void rdmablk_ctl_exit(void);

#endif /* RDMABLK_KMOD_H */

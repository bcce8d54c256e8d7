// SPDX-License-Identifier: GPL-2.0
/*
 * rdmablk: the RDMA transport. rdma_cm queues (one RC QP each), the login on
 * queue 0 with its HMAC, keepalives, FRWR registration of each request's
 * pages (REG_MR chained before the capsule SEND), completions, and error
 * recovery. docs/protocol.md is the contract; every received message is
 * checked with the helpers of proto_check.h before it is used.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/scatterlist.h>
#include <crypto/hash.h>
#include <net/net_namespace.h>

#include "rdmablk.h"

static int rdmablk_status_errno(int status)
{
	switch (status) {
	case RDMABLK_S_UNKNOWN_EXPORT:
		return -ENOENT;
	case RDMABLK_S_HOST_DENIED:
	case RDMABLK_S_AUTH_FAILED:
	case RDMABLK_S_BAD_TICKET:
		return -EACCES;
	case RDMABLK_S_VERSION:
		return -EPROTONOSUPPORT;
	case RDMABLK_S_QUEUE_LIMIT:
		return -ERANGE;
	case RDMABLK_S_NO_RESOURCES:
		return -EAGAIN;
	case RDMABLK_S_SHUTTING_DOWN:
		return -ESHUTDOWN;
	default:
		return -EPROTO;
	}
}

static blk_status_t rdmablk_status_blk(int status)
{
	switch (status) {
	case RDMABLK_S_SUCCESS:
		return BLK_STS_OK;
	case RDMABLK_S_NO_SPACE:
		return BLK_STS_NOSPC;
	case RDMABLK_S_UNSUPPORTED:
		return BLK_STS_NOTSUPP;
	case RDMABLK_S_READ_ONLY:
		return BLK_STS_PROTECTION;
	case RDMABLK_S_TRANSPORT:
		return BLK_STS_TRANSPORT;
	default:
		return BLK_STS_IOERR;
	}
}

/*
 * A broken message or a failed completion while a LOGIN waits for its
 * answer on queue 0 (map or reconnect): the login fails now with -EPROTO,
 * not at its timeout.
 */
static void rdmablk_fail_login(struct rdmablk_dev *dev, const char *why)
{
	unsigned long flags;
	bool wake;

	spin_lock_irqsave(&dev->lock, flags);
	wake = dev->ipending && dev->iop == RDMABLK_OP_LOGIN;
	if (wake) {
		dev->ipending = false;
		dev->ierror = -EPROTO;
	}
	spin_unlock_irqrestore(&dev->lock, flags);
	if (wake) {
		pr_err("rdmablk%d: %s during login\n", dev->index, why);
		complete(&dev->icmd_done);
	}
}

/*
 * Something went wrong on the wire or in a completion: the device stops
 * doing I/O on this connection. Safe from any context.
 */
void rdmablk_error(struct rdmablk_dev *dev, const char *why)
{
	unsigned long flags;
	bool first = false;
	int tmo;

	spin_lock_irqsave(&dev->lock, flags);
	if (dev->state == RDMABLK_DEV_LIVE) {
		first = true;
		if (dev->removing) {
			dev->state = RDMABLK_DEV_DEAD;
		} else {
			dev->state = RDMABLK_DEV_RECONNECTING;
			tmo = dev->params.ctrl_loss_tmo ?:
			      RDMABLK_CTL_DEFAULT_CTRL_LOSS_TMO;
			dev->loss_deadline = tmo < 0 ? 0 : jiffies + tmo * HZ;
		}
	}
	spin_unlock_irqrestore(&dev->lock, flags);
	if (first) {
		pr_err("rdmablk%d: %s; %s\n", dev->index, why,
		       dev->state == RDMABLK_DEV_DEAD ? "failing I/O" :
		       "reconnecting");
		queue_work(rdmablk_wq, &dev->err_work);
	} else {
		rdmablk_fail_login(dev, why);
	}
}

/* Unmap or rmmod: a lost connection is not retried any more. */
void rdmablk_mark_removing(struct rdmablk_dev *dev)
{
	unsigned long flags;

	spin_lock_irqsave(&dev->lock, flags);
	dev->removing = true;
	if (dev->state == RDMABLK_DEV_RECONNECTING)
		dev->state = RDMABLK_DEV_DEAD;
	spin_unlock_irqrestore(&dev->lock, flags);
}

static void rdmablk_wc_error(struct rdmablk_queue *q, struct ib_wc *wc,
			     const char *op)
{
	if (wc->status != IB_WC_WR_FLUSH_ERR)
		pr_err("rdmablk%d: queue %u: %s failed: %s (%d)\n",
		       q->dev->index, q->qid, op,
		       ib_wc_status_msg(wc->status), wc->status);
	rdmablk_error(q->dev, "transport error");
}

/* ---- receive buffers ---- */

static int rdmablk_post_recv(struct rdmablk_queue *q, struct rdmablk_rsp_buf *r)
{
	struct ib_sge sge = {
		.addr = r->dma,
		.length = RDMABLK_MAX_RECV_SIZE,
		.lkey = q->dev->pd->local_dma_lkey,
	};
	struct ib_recv_wr wr = {
		.wr_cqe = &r->cqe,
		.sg_list = &sge,
		.num_sge = 1,
	};

	ib_dma_sync_single_for_device(q->dev->ibdev, r->dma,
				      RDMABLK_MAX_RECV_SIZE, DMA_FROM_DEVICE);
	return ib_post_recv(q->qp, &wr, NULL);
}

/* The answer to LOGIN or KEEPALIVE on queue 0. */
static void rdmablk_process_irsp(struct rdmablk_dev *dev, const u8 *buf,
				 u32 len)
{
	const struct rdmablk_cmd *cmd = (const void *)dev->icmd;
	const struct rdmablk_rsp *rsp = (const void *)buf;
	unsigned long flags;
	bool ok = true;

	spin_lock_irqsave(&dev->lock, flags);
	if (!dev->ipending) {
		ok = false;
	} else if (dev->iop == RDMABLK_OP_LOGIN) {
		dev->ipending = false;
		memcpy(dev->irsp, buf, min_t(u32, len, sizeof(dev->irsp)));
		dev->irsp_len = len;
		complete(&dev->icmd_done);
	} else {
		dev->ipending = false;
		if (rdmablk_check_rsp(rsp, len, cmd) ||
		    le16_to_cpu(rsp->status) != RDMABLK_S_SUCCESS)
			ok = false;
	}
	spin_unlock_irqrestore(&dev->lock, flags);
	if (!ok)
		rdmablk_error(dev, "unexpected or bad answer on queue 0");
}

static void rdmablk_req_put(struct request *rq)
{
	struct rdmablk_req *req = blk_mq_rq_to_pdu(rq);

	if (atomic_dec_and_test(&req->ref))
		blk_mq_complete_request(rq);
}

static void rdmablk_local_inv_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct rdmablk_req *req =
		container_of(wc->wr_cqe, struct rdmablk_req, inv_cqe);

	if (unlikely(wc->status != IB_WC_SUCCESS)) {
		rdmablk_wc_error(cq->cq_context, wc, "LOCAL_INV");
		return;
	}
	req->mr_used = false;
	rdmablk_req_put(blk_mq_rq_from_pdu(req));
}

static int rdmablk_post_local_inv(struct rdmablk_queue *q,
				  struct rdmablk_req *req)
{
	struct ib_send_wr wr = {
		.opcode = IB_WR_LOCAL_INV,
		.wr_cqe = &req->inv_cqe,
		.send_flags = IB_SEND_SIGNALED,
		.ex.invalidate_rkey = req->mr->rkey,
	};

	return ib_post_send(q->qp, &wr, NULL);
}

/* A response to a block request: find it by tag, trust nothing. */
static void rdmablk_process_rsp(struct rdmablk_queue *q,
				const struct rdmablk_rsp *rsp, struct ib_wc *wc)
{
	struct rdmablk_dev *dev = q->dev;
	u32 tag = le32_to_cpu(rsp->tag);
	unsigned int hctx_idx;
	struct rdmablk_req *req;
	struct request *rq;

	if (q->qid == 0 && dev->nr_io_queues) {
		rdmablk_error(dev, "I/O response on queue 0");
		return;
	}
	hctx_idx = dev->nr_io_queues ? q->qid - 1 : 0;
	if (!dev->tag_set_alloced || hctx_idx >= dev->tag_set.nr_hw_queues ||
	    tag >= dev->tag_set.queue_depth) {
		rdmablk_error(dev, "response with an unknown tag");
		return;
	}
	rq = blk_mq_tag_to_rq(dev->tag_set.tags[hctx_idx], tag);
	if (!rq) {
		rdmablk_error(dev, "response with an unknown tag");
		return;
	}
	req = blk_mq_rq_to_pdu(rq);
	if (req->queue != q || atomic_cmpxchg(&req->rsp_pending, 1, 0) != 1) {
		rdmablk_error(dev, "response to no outstanding command");
		return;
	}
	if (rdmablk_check_rsp(rsp, wc->byte_len, req->cmd)) {
		rdmablk_error(dev, "malformed response");
		return;
	}
	req->status = rdmablk_status_blk(le16_to_cpu(rsp->status));

	if (!req->mr_used && (wc->wc_flags & IB_WC_WITH_INVALIDATE)) {
		rdmablk_error(dev, "target invalidated a key it was not given");
		return;
	}
	if (req->mr_used) {
		if (wc->wc_flags & IB_WC_WITH_INVALIDATE) {
			if (wc->ex.invalidate_rkey != req->mr->rkey) {
				rdmablk_error(dev, "target invalidated a wrong key");
				return;
			}
			req->mr_used = false;
		} else if (rdmablk_post_local_inv(q, req)) {
			rdmablk_error(dev, "cannot post LOCAL_INV");
			return;
		} else {
			return;	/* rdmablk_local_inv_done() puts */
		}
	}
	rdmablk_req_put(rq);
}

static void rdmablk_recv_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct rdmablk_rsp_buf *r =
		container_of(wc->wr_cqe, struct rdmablk_rsp_buf, cqe);
	struct rdmablk_queue *q = cq->cq_context;
	struct rdmablk_dev *dev = q->dev;
	const struct rdmablk_rsp *rsp = (const void *)r->buf;

	if (unlikely(wc->status != IB_WC_SUCCESS)) {
		rdmablk_wc_error(q, wc, "RECV");
		return;
	}
	ib_dma_sync_single_for_cpu(dev->ibdev, r->dma, RDMABLK_MAX_RECV_SIZE,
				   DMA_FROM_DEVICE);
	if (wc->byte_len < sizeof(*rsp)) {
		rdmablk_error(dev, "short response");
		return;
	}
	if (q->qid == 0 && le32_to_cpu(rsp->tag) == RDMABLK_ITAG)
		rdmablk_process_irsp(dev, r->buf, wc->byte_len);
	else
		rdmablk_process_rsp(q, rsp, wc);

	if (rdmablk_post_recv(q, r))
		rdmablk_error(dev, "cannot repost a receive buffer");
}

static void rdmablk_isend_done(struct ib_cq *cq, struct ib_wc *wc)
{
	if (unlikely(wc->status != IB_WC_SUCCESS))
		rdmablk_wc_error(cq->cq_context, wc, "SEND");
}

static void rdmablk_send_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct rdmablk_req *req =
		container_of(wc->wr_cqe, struct rdmablk_req, send_cqe);

	if (unlikely(wc->status != IB_WC_SUCCESS)) {
		rdmablk_wc_error(cq->cq_context, wc, "SEND");
		return;
	}
	rdmablk_req_put(blk_mq_rq_from_pdu(req));
}

static void rdmablk_reg_done(struct ib_cq *cq, struct ib_wc *wc)
{
	/* REG_MR is unsignaled: only errors come here. */
	if (unlikely(wc->status != IB_WC_SUCCESS))
		rdmablk_wc_error(cq->cq_context, wc, "REG_MR");
}

/* Direct mode: the RDMA READ/WRITE itself is done; invalidate our MR. */
static void rdmablk_direct_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct rdmablk_req *req =
		container_of(wc->wr_cqe, struct rdmablk_req, send_cqe);
	struct rdmablk_queue *q = cq->cq_context;

	if (unlikely(wc->status != IB_WC_SUCCESS)) {
		rdmablk_wc_error(q, wc, "RDMA READ/WRITE");
		return;
	}
	atomic_set(&req->rsp_pending, 0);
	if (rdmablk_post_local_inv(q, req))
		rdmablk_error(q->dev, "cannot post LOCAL_INV");
}

/* ---- queues ---- */

static void rdmablk_qp_event(struct ib_event *ev, void *ctx)
{
	struct rdmablk_queue *q = ctx;

	pr_debug("rdmablk%d: queue %u: QP event %s\n", q->dev->index, q->qid,
		 ib_event_msg(ev->event));
}

/* A capsule and an MR for each tag the queue may carry. */
static int rdmablk_alloc_cmds(struct rdmablk_queue *q)
{
	struct rdmablk_dev *dev = q->dev;
	int i;

	q->cmds = kcalloc(q->want_depth, sizeof(*q->cmds), GFP_KERNEL);
	q->mrs = kcalloc(q->want_depth, sizeof(*q->mrs), GFP_KERNEL);
	if (!q->cmds || !q->mrs)
		return -ENOMEM;
	q->cmds_dma = ib_dma_map_single(dev->ibdev, q->cmds,
					q->want_depth * sizeof(*q->cmds),
					DMA_TO_DEVICE);
	if (ib_dma_mapping_error(dev->ibdev, q->cmds_dma)) {
		q->cmds_dma = 0;
		return -ENOMEM;
	}
	for (i = 0; i < q->want_depth; i++) {
		struct ib_mr *mr = ib_alloc_mr(dev->pd, IB_MR_TYPE_MEM_REG,
					       RDMABLK_MAX_PAGES);

		if (IS_ERR(mr))
			return PTR_ERR(mr);
		q->mrs[i] = mr;
		q->nr_cmds = i + 1;
	}
	return 0;
}

static void rdmablk_free_cmds(struct rdmablk_queue *q)
{
	struct rdmablk_dev *dev = q->dev;
	int i;

	for (i = 0; i < q->nr_cmds; i++)
		ib_dereg_mr(q->mrs[i]);
	q->nr_cmds = 0;
	if (q->cmds_dma)
		ib_dma_unmap_single(dev->ibdev, q->cmds_dma,
				    q->want_depth * sizeof(*q->cmds),
				    DMA_TO_DEVICE);
	q->cmds_dma = 0;
	kfree(q->mrs);
	q->mrs = NULL;
	kfree(q->cmds);
	q->cmds = NULL;
}

static int rdmablk_create_queue_ib(struct rdmablk_queue *q)
{
	struct rdmablk_dev *dev = q->dev;
	struct ib_device *ibdev = q->cm_id->device;
	struct ib_qp_init_attr attr = {};
	int nr_send = 3 * q->want_depth + 2;
	int nr_recv = q->want_depth + 1;
	int i, ret;

	if (!dev->pd) {
		dev->pd = ib_alloc_pd(ibdev, 0);
		if (IS_ERR(dev->pd)) {
			ret = PTR_ERR(dev->pd);
			dev->pd = NULL;
			return ret;
		}
		WRITE_ONCE(dev->ibdev, ibdev);
	} else if (dev->ibdev != ibdev) {
		return -EXDEV;	/* all queues share one PD */
	}
	if (!dev->icmd_dma) {
		dev->icmd_dma = ib_dma_map_single(ibdev, dev->icmd,
						  RDMABLK_ICMD_SIZE,
						  DMA_TO_DEVICE);
		if (ib_dma_mapping_error(ibdev, dev->icmd_dma)) {
			dev->icmd_dma = 0;
			return -ENOMEM;
		}
	}
	if (!(ibdev->attrs.device_cap_flags & IB_DEVICE_MEM_MGT_EXTENSIONS) ||
	    ibdev->attrs.max_fast_reg_page_list_len < RDMABLK_MAX_PAGES)
		return -EOPNOTSUPP;

	/* + 2: one for each drain WR */
	q->cq = ib_alloc_cq(ibdev, q, nr_send + nr_recv + 2,
			    q->qid % ibdev->num_comp_vectors, IB_POLL_SOFTIRQ);
	if (IS_ERR(q->cq)) {
		ret = PTR_ERR(q->cq);
		q->cq = NULL;
		return ret;
	}

	attr.event_handler = rdmablk_qp_event;
	attr.qp_context = q;
	attr.cap.max_send_wr = nr_send + 1;
	attr.cap.max_recv_wr = nr_recv + 1;
	/* the capsule, and the pages of an inline WRITE if the device can */
	attr.cap.max_send_sge = min_t(u32, 1 + RDMABLK_INLINE_SEGS,
				      ibdev->attrs.max_send_sge);
	attr.cap.max_recv_sge = 1;
	attr.sq_sig_type = IB_SIGNAL_REQ_WR;
	attr.qp_type = IB_QPT_RC;
	attr.send_cq = q->cq;
	attr.recv_cq = q->cq;
	ret = rdma_create_qp(q->cm_id, dev->pd, &attr);
	if (ret)
		return ret;
	q->qp = q->cm_id->qp;
	q->inline_sges = min_t(u32, attr.cap.max_send_sge,
			       1 + RDMABLK_INLINE_SEGS) - 1;

	ret = rdmablk_alloc_cmds(q);
	if (ret)
		return ret;

	q->rsps = kcalloc(nr_recv, sizeof(*q->rsps), GFP_KERNEL);
	if (!q->rsps)
		return -ENOMEM;
	for (i = 0; i < nr_recv; i++) {
		struct rdmablk_rsp_buf *r = &q->rsps[i];

		r->buf = kzalloc(RDMABLK_MAX_RECV_SIZE, GFP_KERNEL);
		if (!r->buf)
			return -ENOMEM;
		r->dma = ib_dma_map_single(ibdev, r->buf, RDMABLK_MAX_RECV_SIZE,
					   DMA_FROM_DEVICE);
		if (ib_dma_mapping_error(ibdev, r->dma)) {
			kfree(r->buf);
			r->buf = NULL;
			return -ENOMEM;
		}
		r->cqe.done = rdmablk_recv_done;
		q->nr_rsps = i + 1;
		ret = rdmablk_post_recv(q, r);
		if (ret)
			return ret;
	}
	return 0;
}

static int rdmablk_cm_connect(struct rdmablk_queue *q)
{
	struct rdmablk_dev *dev = q->dev;
	struct ib_device_attr *attrs = &dev->ibdev->attrs;
	struct rdma_conn_param param = {};
	struct rdmablk_cm_req req = {};

	req.magic = cpu_to_le32(RDMABLK_MAGIC);
	req.version = cpu_to_le16(RDMABLK_PROTO_VERSION);
	req.qid = cpu_to_le16(q->qid);
	req.queue_depth = cpu_to_le16(q->want_depth);
	if (q->qid) {
		req.session_id = cpu_to_le64(dev->session_id);
		memcpy(req.ticket, dev->ticket, sizeof(req.ticket));
	}
	param.qp_num = q->qp->qp_num;
	param.flow_control = 1;
	param.responder_resources = min_t(int, attrs->max_qp_rd_atom, 16);
	param.initiator_depth = min_t(int, attrs->max_qp_init_rd_atom, 16);
	param.retry_count = 7;
	param.rnr_retry_count = 7;
	param.private_data = &req;
	param.private_data_len = sizeof(req);
	return rdma_connect_locked(q->cm_id, &param);
}

static int rdmablk_cm_established(struct rdmablk_queue *q,
				  struct rdma_cm_event *ev)
{
	const void *data = ev->param.conn.private_data;
	u8 len = data ? ev->param.conn.private_data_len : 0;
	int st;

	set_bit(RDMABLK_Q_CONNECTED, &q->flags);
	set_bit(RDMABLK_Q_DRAIN, &q->flags);
	st = rdmablk_check_cm_rep(data, len, q->qid, q->want_depth);
	if (st) {
		pr_err("rdmablk%d: queue %u: bad accept from target: %s\n",
		       q->dev->index, q->qid, rdmablk_status_str(st));
		return st == RDMABLK_S_VERSION ? -EPROTONOSUPPORT : -EPROTO;
	}
	memcpy(&q->rep, data, sizeof(q->rep));
	q->depth = le16_to_cpu(q->rep.queue_depth);
	q->max_inline = le32_to_cpu(q->rep.max_inline);
	return 0;
}

static void rdmablk_cm_rejected(struct rdmablk_queue *q,
				struct rdma_cm_event *ev)
{
	const void *data = ev->param.conn.private_data;
	u8 len = data ? ev->param.conn.private_data_len : 0;
	struct rdmablk_cm_rej rej;

	q->cm_error = -ECONNREFUSED;
	if (data && !rdmablk_check_cm_rej(data, len)) {
		memcpy(&rej, data, sizeof(rej));
		q->cm_status = le16_to_cpu(rej.status);
		q->cm_error = rdmablk_status_errno(q->cm_status);
	}
}

static int rdmablk_cm_handler(struct rdma_cm_id *id, struct rdma_cm_event *ev)
{
	struct rdmablk_queue *q = id->context;
	struct rdmablk_dev *dev = q->dev;
	int err = 0;

	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		err = rdmablk_create_queue_ib(q);
		if (!err)
			err = rdma_resolve_route(id, RDMABLK_CM_TIMEOUT_MS);
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		err = rdmablk_cm_connect(q);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		q->cm_error = rdmablk_cm_established(q, ev);
		complete(&q->cm_done);
		break;
	case RDMA_CM_EVENT_REJECTED:
		rdmablk_cm_rejected(q, ev);
		complete(&q->cm_done);
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		err = -EHOSTUNREACH;
		break;
	case RDMA_CM_EVENT_ROUTE_ERROR:
		err = -ENETUNREACH;
		break;
	case RDMA_CM_EVENT_CONNECT_ERROR:
		err = -ECONNRESET;
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_ADDR_CHANGE:
	case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		if (test_bit(RDMABLK_Q_LIVE, &q->flags)) {
			rdmablk_error(dev, "target disconnected");
		} else if (q->qid == 0) {
			/* wakes a login that waits for its answer */
			q->cm_error = -ECONNRESET;
			complete(&dev->icmd_done);
		}
		break;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		/*
		 * Our ib_client remove hook ran first and released every
		 * queue it found; this is a connect still in progress.
		 */
		err = -ENODEV;
		break;
	default:
		break;
	}
	if (err) {
		q->cm_error = err;
		complete(&q->cm_done);
	}
	return 0;
}

struct rdmablk_drain {
	struct ib_cqe cqe;
	struct completion done;
};

static void rdmablk_drain_done(struct ib_cq *cq, struct ib_wc *wc)
{
	complete(&container_of(wc->wr_cqe, struct rdmablk_drain, cqe)->done);
}

/*
 * ib_drain_qp() with a time limit: the QP goes to the error state and a
 * marker on each work queue completes once everything before it has. A
 * device that never flushes (rxe of 6.1 after a send failed with the link
 * down) would keep ib_drain_qp() and every task behind it waiting forever.
 */
static bool rdmablk_drain_qp(struct rdmablk_queue *q)
{
	struct ib_qp_attr attr = { .qp_state = IB_QPS_ERR };
	struct rdmablk_drain sd, rd;
	struct ib_rdma_wr swr = {
		.wr = {
			.wr_cqe = &sd.cqe,
			.opcode = IB_WR_RDMA_WRITE,
			.send_flags = IB_SEND_SIGNALED,
		},
	};
	struct ib_recv_wr rwr = { .wr_cqe = &rd.cqe };

	sd.cqe.done = rdmablk_drain_done;
	rd.cqe.done = rdmablk_drain_done;
	init_completion(&sd.done);
	init_completion(&rd.done);
	if (ib_modify_qp(q->qp, &attr, IB_QP_STATE))
		return false;
	if (ib_post_send(q->qp, &swr.wr, NULL) ||
	    !wait_for_completion_timeout(&sd.done, RDMABLK_DRAIN_TIMEOUT))
		return false;
	return !ib_post_recv(q->qp, &rwr, NULL) &&
	       wait_for_completion_timeout(&rd.done, RDMABLK_DRAIN_TIMEOUT);
}

static void rdmablk_stop_queue(struct rdmablk_queue *q)
{
	clear_bit(RDMABLK_Q_LIVE, &q->flags);
	if (test_and_clear_bit(RDMABLK_Q_CONNECTED, &q->flags))
		rdma_disconnect(q->cm_id);
	/* a QP that never connected has nothing in flight to wait for */
	if (!q->qp || !test_and_clear_bit(RDMABLK_Q_DRAIN, &q->flags))
		return;
	if (rdmablk_drain_qp(q))
		return;
	/*
	 * Undrained: destroy the QP and the CQ now, so no completion (nor our
	 * drain markers on the stack) can be touched after this; requests in
	 * flight are then taken back by recovery as usual.
	 */
	pr_warn("rdmablk%d: queue %u: the RDMA device did not flush the queue; destroying it\n",
		q->dev->index, q->qid);
	rdma_destroy_qp(q->cm_id);
	q->qp = NULL;
	ib_free_cq(q->cq);
	q->cq = NULL;
}

static void rdmablk_free_queue(struct rdmablk_queue *q)
{
	int i;

	if (!q->cm_id)
		return;
	rdmablk_stop_queue(q);
	if (q->qp) {
		rdma_destroy_qp(q->cm_id);
		q->qp = NULL;
	}
	/* no completion can run once the CQ is gone: then free the buffers */
	if (q->cq) {
		ib_free_cq(q->cq);
		q->cq = NULL;
	}
	for (i = 0; i < q->nr_rsps; i++) {
		ib_dma_unmap_single(q->dev->ibdev, q->rsps[i].dma,
				    RDMABLK_MAX_RECV_SIZE, DMA_FROM_DEVICE);
		kfree(q->rsps[i].buf);
	}
	kfree(q->rsps);
	q->rsps = NULL;
	q->nr_rsps = 0;
	rdmablk_free_cmds(q);
	rdma_destroy_id(q->cm_id);
	q->cm_id = NULL;
}

static int rdmablk_connect_queue(struct rdmablk_dev *dev, u16 qid, u16 depth)
{
	struct rdmablk_queue *q = &dev->queues[qid];
	int ret;

	q->dev = dev;
	q->qid = qid;
	q->want_depth = depth;
	q->cm_error = 0;
	q->cm_status = 0;
	init_completion(&q->cm_done);
	q->cm_id = rdma_create_id(&init_net, rdmablk_cm_handler, q,
				  RDMA_PS_TCP, IB_QPT_RC);
	if (IS_ERR(q->cm_id)) {
		ret = PTR_ERR(q->cm_id);
		q->cm_id = NULL;
		return ret;
	}
	ret = rdma_resolve_addr(q->cm_id, NULL, (struct sockaddr *)&dev->addr,
				RDMABLK_CM_TIMEOUT_MS);
	if (ret)
		return ret;
	if (!wait_for_completion_timeout(&q->cm_done, RDMABLK_CONNECT_TIMEOUT))
		return -ETIMEDOUT;
	if (q->cm_status)	/* a typed reject: map reports it */
		dev->params.status = q->cm_status;
	return q->cm_error;
}

void rdmablk_stop_queues(struct rdmablk_dev *dev)
{
	int i;

	for (i = 0; i < dev->nr_queues; i++)
		if (dev->queues[i].cm_id)
			rdmablk_stop_queue(&dev->queues[i]);
}

/* Lets go of the RDMA device: queues, capsules, MRs, PD. */
static void rdmablk_release_transport(struct rdmablk_dev *dev)
{
	int i;

	for (i = dev->nr_queues - 1; i >= 0; i--) {
		rdmablk_free_queue(&dev->queues[i]);
		dev->queues[i].flags = 0;
	}
	if (dev->icmd_dma) {
		ib_dma_unmap_single(dev->ibdev, dev->icmd_dma, RDMABLK_ICMD_SIZE,
				    DMA_TO_DEVICE);
		dev->icmd_dma = 0;
	}
	if (dev->pd) {
		ib_dealloc_pd(dev->pd);
		dev->pd = NULL;
	}
	WRITE_ONCE(dev->ibdev, NULL);
}

void rdmablk_free_queues(struct rdmablk_dev *dev)
{
	rdmablk_release_transport(dev);
	kfree(dev->icmd);
	dev->icmd = NULL;
	kfree(dev->queues);
	dev->queues = NULL;
	dev->nr_queues = 0;
}

/* ---- login and keepalive on queue 0 ---- */

static int rdmablk_post_icmd(struct rdmablk_dev *dev, u32 len)
{
	struct ib_sge sge = {
		.addr = dev->icmd_dma,
		.length = len,
		.lkey = dev->pd->local_dma_lkey,
	};
	struct ib_send_wr wr = {
		.wr_cqe = &dev->icmd_cqe,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IB_WR_SEND,
		.send_flags = IB_SEND_SIGNALED,
	};

	ib_dma_sync_single_for_device(dev->ibdev, dev->icmd_dma, len,
				      DMA_TO_DEVICE);
	return ib_post_send(dev->queues[0].qp, &wr, NULL);
}

static int rdmablk_login_mac(struct rdmablk_dev *dev, const u8 *nonce,
			     struct rdmablk_login_req *req)
{
	struct crypto_shash *tfm;
	u8 *msg;
	int ret;

	msg = kmalloc(RDMABLK_NONCE_LEN + sizeof(req->export_name) +
		      sizeof(req->host_id), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(tfm)) {
		ret = PTR_ERR(tfm);
		goto out_free_msg;
	}
	ret = crypto_shash_setkey(tfm, dev->params.secret,
				  dev->params.secret_len);
	if (ret)
		goto out_free_tfm;
	memcpy(msg, nonce, RDMABLK_NONCE_LEN);
	memcpy(msg + RDMABLK_NONCE_LEN, req->export_name,
	       sizeof(req->export_name));
	memcpy(msg + RDMABLK_NONCE_LEN + sizeof(req->export_name),
	       req->host_id, sizeof(req->host_id));
	ret = crypto_shash_tfm_digest(tfm, msg, RDMABLK_NONCE_LEN +
				      sizeof(req->export_name) +
				      sizeof(req->host_id), req->mac);
out_free_tfm:
	crypto_free_shash(tfm);
out_free_msg:
	kfree(msg);
	return ret;
}

static int rdmablk_login(struct rdmablk_dev *dev, u16 nr_queues, u16 depth)
{
	struct rdmablk_queue *q = &dev->queues[0];
	struct rdmablk_cmd *cmd = (void *)dev->icmd;
	struct rdmablk_login_req *req = (void *)(dev->icmd + sizeof(*cmd));
	const struct rdmablk_rsp *rsp = (const void *)dev->irsp;
	const struct rdmablk_login_rsp *lrsp =
		(const void *)(dev->irsp + sizeof(*rsp));
	u32 features = RDMABLK_FEAT_REMOTE_INV | RDMABLK_FEAT_FLUSH |
		       RDMABLK_FEAT_FUA | RDMABLK_FEAT_DISCARD |
		       RDMABLK_FEAT_WRITE_ZEROES;
	unsigned long flags;
	int ret, st;

	/* direct mode WRITEs by RDMA itself, never inline */
	if (dev->params.mode == RDMABLK_CTL_MODE_DIRECT)
		features |= RDMABLK_FEAT_DIRECT;
	else
		features |= RDMABLK_FEAT_INLINE_WRITE;
	memset(dev->icmd, 0, RDMABLK_ICMD_SIZE);
	cmd->opcode = RDMABLK_OP_LOGIN;
	cmd->tag = cpu_to_le32(RDMABLK_ITAG);
	cmd->length = cpu_to_le32(sizeof(*req));
	req->features = cpu_to_le32(features);
	req->nr_queues = cpu_to_le16(nr_queues);
	req->queue_depth = cpu_to_le16(depth);
	req->max_io_size = cpu_to_le32(RDMABLK_KMAX_IO_SIZE);
	memcpy(req->export_name, dev->params.export_name,
	       sizeof(req->export_name));
	memcpy(req->host_id, dev->params.host_id, sizeof(req->host_id));
	if (dev->params.secret_len) {
		ret = rdmablk_login_mac(dev, q->rep.nonce, req);
		if (ret)
			return ret;
	}

	spin_lock_irqsave(&dev->lock, flags);
	dev->iop = RDMABLK_OP_LOGIN;
	dev->ipending = true;
	dev->ierror = 0;
	dev->irsp_len = 0;
	spin_unlock_irqrestore(&dev->lock, flags);
	reinit_completion(&dev->icmd_done);
	ret = rdmablk_post_icmd(dev, sizeof(*cmd) + sizeof(*req));
	if (ret)
		return ret;
	ret = wait_for_completion_timeout(&dev->icmd_done, RDMABLK_LOGIN_TIMEOUT);
	spin_lock_irqsave(&dev->lock, flags);
	if (!ret)
		ret = -ETIMEDOUT;
	else if (dev->ipending)
		ret = q->cm_error ?: -ECONNRESET;
	else
		ret = dev->ierror;
	dev->ipending = false;
	spin_unlock_irqrestore(&dev->lock, flags);
	if (ret)
		return ret;

	st = rdmablk_check_rsp(rsp, dev->irsp_len, cmd);
	if (st) {
		pr_err("rdmablk: target sent a malformed login answer\n");
		return -EPROTO;
	}
	st = le16_to_cpu(rsp->status);
	if (st) {
		dev->params.status = st;
		return rdmablk_status_errno(st);
	}
	if (rdmablk_check_login_rsp(lrsp, req)) {
		pr_err("rdmablk: target sent a malformed login response\n");
		return -EPROTO;
	}
	dev->features = le32_to_cpu(lrsp->features);
	dev->export_flags = le32_to_cpu(lrsp->export_flags);
	dev->session_id = le64_to_cpu(lrsp->session_id);
	memcpy(dev->ticket, lrsp->ticket, sizeof(dev->ticket));
	dev->size = le64_to_cpu(lrsp->size);
	dev->nr_io_queues = le16_to_cpu(lrsp->nr_queues);
	dev->io_depth = le16_to_cpu(lrsp->queue_depth);
	dev->max_io_size = le32_to_cpu(lrsp->max_io_size);
	dev->lbs = le32_to_cpu(lrsp->logical_block_size);
	dev->pbs = le32_to_cpu(lrsp->physical_block_size);
	dev->opt_io = le32_to_cpu(lrsp->optimal_io_size);
	dev->max_inline = le32_to_cpu(lrsp->max_inline);
	dev->region_addr = le64_to_cpu(lrsp->region_addr);
	dev->region_rkey = le32_to_cpu(lrsp->region_rkey);
	/* the block layer sends at least a page per request */
	if (dev->max_io_size < PAGE_SIZE) {
		pr_err("rdmablk: target grants a max I/O size of %u bytes, less than a page\n",
		       dev->max_io_size);
		return -EOPNOTSUPP;
	}
	if (dev->params.mode == RDMABLK_CTL_MODE_DIRECT &&
	    !(dev->features & RDMABLK_FEAT_DIRECT)) {
		dev->params.status = RDMABLK_S_UNSUPPORTED;
		return -EOPNOTSUPP;
	}
	return 0;
}

void rdmablk_ka_work(struct work_struct *work)
{
	struct rdmablk_dev *dev =
		container_of(to_delayed_work(work), struct rdmablk_dev, ka_work);
	struct rdmablk_cmd *cmd = (void *)dev->icmd;
	unsigned long flags;
	bool post = false, dead = false;

	spin_lock_irqsave(&dev->lock, flags);
	if (dev->state != RDMABLK_DEV_LIVE) {
		spin_unlock_irqrestore(&dev->lock, flags);
		return;
	}
	if (dev->ipending) {
		dead = time_after(jiffies, dev->ka_sent +
				  msecs_to_jiffies(RDMABLK_KEEPALIVE_TIMEOUT_MS));
	} else {
		ib_dma_sync_single_for_cpu(dev->ibdev, dev->icmd_dma,
					   sizeof(*cmd), DMA_TO_DEVICE);
		memset(cmd, 0, sizeof(*cmd));
		cmd->opcode = RDMABLK_OP_KEEPALIVE;
		cmd->tag = cpu_to_le32(RDMABLK_ITAG);
		dev->iop = RDMABLK_OP_KEEPALIVE;
		dev->ipending = true;
		dev->ka_sent = jiffies;
		post = true;
	}
	spin_unlock_irqrestore(&dev->lock, flags);
	if (dead) {
		rdmablk_error(dev, "keepalive not answered");
		return;
	}
	if (post && rdmablk_post_icmd(dev, sizeof(*cmd))) {
		rdmablk_error(dev, "cannot post KEEPALIVE");
		return;
	}
	queue_delayed_work(rdmablk_wq, &dev->ka_work,
			   msecs_to_jiffies(RDMABLK_KEEPALIVE_INTERVAL_MS));
}

/*
 * Connects queue 0, logs in, connects the granted I/O queues. On error the
 * caller frees what exists with rdmablk_free_queues().
 */
int rdmablk_connect_all(struct rdmablk_dev *dev)
{
	u16 want_q = dev->params.nr_queues ?: min_t(u32, num_online_cpus(),
						   RDMABLK_MAX_QUEUES - 1);
	u16 want_qd = dev->params.queue_depth ?: RDMABLK_CTL_DEFAULT_QUEUE_DEPTH;
	u16 depth;
	int i, ret;

	dev->queues = kcalloc(1 + want_q, sizeof(*dev->queues), GFP_KERNEL);
	if (!dev->queues)
		return -ENOMEM;
	dev->nr_queues = 1 + want_q;
	dev->icmd = kzalloc(RDMABLK_ICMD_SIZE, GFP_KERNEL);
	if (!dev->icmd)
		return -ENOMEM;
	dev->icmd_cqe.done = rdmablk_isend_done;

	ret = rdmablk_connect_queue(dev, 0, min_t(u16, want_qd + 1,
						  RDMABLK_MAX_QUEUE_DEPTH));
	if (ret)
		return ret;
	if (dev->queues[0].depth < 2)
		return -ENOSPC;
	dev->want_queues = want_q;
	dev->want_depth = want_qd;
	ret = rdmablk_login(dev, want_q, want_qd);
	if (ret)
		return ret;

	depth = dev->io_depth;
	for (i = 1; i <= dev->nr_io_queues; i++) {
		ret = rdmablk_connect_queue(dev, i, dev->io_depth);
		if (ret)
			return ret;
		depth = min(depth, dev->queues[i].depth);
	}
	if (!dev->nr_io_queues)	/* queue 0 carries I/O; keep a slot for ka */
		depth = min_t(u16, depth, dev->queues[0].depth - 1);
	dev->io_depth = depth;
	for (i = 0; i <= dev->nr_io_queues; i++)
		set_bit(RDMABLK_Q_LIVE, &dev->queues[i].flags);
	return 0;
}

/* ---- block requests ---- */

int rdmablk_init_request(struct blk_mq_tag_set *set, struct request *rq,
			 unsigned int hctx_idx, unsigned int numa_node)
{
	struct rdmablk_dev *dev = set->driver_data;
	struct rdmablk_req *req = blk_mq_rq_to_pdu(rq);

	req->queue = &dev->queues[dev->nr_io_queues ? hctx_idx + 1 : 0];
	req->retries = 0;
	req->reg_cqe.done = rdmablk_reg_done;
	req->inv_cqe.done = rdmablk_local_inv_done;
	return 0;
}

/* DMA-maps the request's pages; returns the mapped entries or -errno. */
static int rdmablk_map_sg(struct rdmablk_dev *dev, struct request *rq,
			  struct rdmablk_req *req)
{
	int nents, count;

	sg_init_table(req->sgl, RDMABLK_MAX_PAGES);
	nents = blk_rq_map_sg(rq->q, rq, req->sgl);
	if (nents <= 0 || nents > RDMABLK_MAX_PAGES)
		return -EIO;
	count = ib_dma_map_sg(dev->ibdev, req->sgl, nents, rq_dma_dir(rq));
	if (!count)
		return -ENOMEM;
	req->nents = nents;
	return count;
}

static void rdmablk_unmap_sg(struct rdmablk_dev *dev, struct request *rq,
			     struct rdmablk_req *req)
{
	ib_dma_unmap_sg(dev->ibdev, req->sgl, req->nents, rq_dma_dir(rq));
	req->nents = 0;
}

/* Maps the request's pages and prepares the REG_MR work request. */
static int rdmablk_map_data(struct rdmablk_dev *dev, struct request *rq,
			    struct rdmablk_req *req, struct ib_reg_wr *reg,
			    int access)
{
	int count, n;

	count = rdmablk_map_sg(dev, rq, req);
	if (count < 0)
		return count;
	n = ib_map_mr_sg(req->mr, req->sgl, count, NULL, PAGE_SIZE);
	if (n != count || req->mr->length != blk_rq_bytes(rq)) {
		rdmablk_unmap_sg(dev, rq, req);
		return -EIO;
	}
	ib_update_fast_reg_key(req->mr, ib_inc_rkey(req->mr->rkey));
	memset(reg, 0, sizeof(*reg));
	reg->wr.opcode = IB_WR_REG_MR;
	reg->wr.wr_cqe = &req->reg_cqe;
	reg->mr = req->mr;
	reg->key = req->mr->rkey;
	reg->access = access;
	req->mr_used = true;
	return 0;
}

/*
 * A small WRITE travels in the SEND after its capsule: no registration, no
 * RDMA READ by the target, no invalidation. Like nvme-rdma's inline data.
 */
static bool rdmablk_use_inline(struct rdmablk_queue *q, struct request *rq)
{
	u32 limit = min(q->dev->max_inline, q->max_inline);

	return req_op(rq) == REQ_OP_WRITE && blk_rq_bytes(rq) <= limit &&
	       blk_rq_nr_phys_segments(rq) <= q->inline_sges;
}

/* Fills @sge with the request's pages; returns their number or -errno. */
static int rdmablk_map_inline(struct rdmablk_queue *q, struct request *rq,
			      struct rdmablk_req *req, struct ib_sge *sge)
{
	struct rdmablk_dev *dev = q->dev;
	struct scatterlist *sg;
	int count, i;

	count = rdmablk_map_sg(dev, rq, req);
	if (count < 0)
		return count;
	if (count > q->inline_sges) {
		rdmablk_unmap_sg(dev, rq, req);
		return -EIO;
	}
	for_each_sg(req->sgl, sg, count, i) {
		sge[i].addr = sg_dma_address(sg);
		sge[i].length = sg_dma_len(sg);
		sge[i].lkey = dev->pd->local_dma_lkey;
	}
	atomic_long_inc(&q->inline_writes);
	return count;
}

static blk_status_t rdmablk_queue_direct(struct rdmablk_queue *q,
					 struct request *rq,
					 struct rdmablk_req *req)
{
	struct rdmablk_dev *dev = q->dev;
	bool write = req_op(rq) == REQ_OP_WRITE;
	struct ib_rdma_wr rdma = {};
	struct ib_reg_wr reg;
	struct ib_sge sge;
	int ret;

	ret = rdmablk_map_data(dev, rq, req, &reg,
			       write ? 0 : IB_ACCESS_LOCAL_WRITE);
	if (ret)
		return ret == -ENOMEM ? BLK_STS_RESOURCE : BLK_STS_IOERR;
	sge.addr = req->mr->iova;
	sge.length = req->mr->length;
	sge.lkey = req->mr->lkey;
	req->send_cqe.done = rdmablk_direct_done;
	rdma.wr.opcode = write ? IB_WR_RDMA_WRITE : IB_WR_RDMA_READ;
	rdma.wr.wr_cqe = &req->send_cqe;
	rdma.wr.sg_list = &sge;
	rdma.wr.num_sge = 1;
	rdma.wr.send_flags = IB_SEND_SIGNALED;
	rdma.remote_addr = dev->region_addr +
			   ((u64)blk_rq_pos(rq) << SECTOR_SHIFT);
	rdma.rkey = dev->region_rkey;
	reg.wr.next = &rdma.wr;
	/* the RDMA op, then LOCAL_INV; rdmablk_local_inv_done() puts */
	atomic_set(&req->ref, 1);
	atomic_set(&req->rsp_pending, 1);
	ret = ib_post_send(q->qp, &reg.wr, NULL);
	if (ret) {
		atomic_set(&req->rsp_pending, 0);
		rdmablk_error(dev, "cannot post RDMA READ/WRITE");
		return BLK_STS_IOERR;
	}
	return BLK_STS_OK;
}

blk_status_t rdmablk_queue_rq(struct blk_mq_hw_ctx *hctx,
			      const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct rdmablk_req *req = blk_mq_rq_to_pdu(rq);
	struct rdmablk_queue *q = req->queue;
	struct rdmablk_dev *dev = q->dev;
	struct rdmablk_cmd *cmd;
	struct ib_send_wr send = {}, *first = &send;
	u64 offset = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	struct ib_reg_wr reg;
	struct ib_sge sge[1 + RDMABLK_INLINE_SEGS];
	int nr_sge = 1, ret;

	switch (READ_ONCE(dev->state)) {
	case RDMABLK_DEV_LIVE:
		break;
	case RDMABLK_DEV_RECONNECTING:	/* recovery quiesces us soon */
		return BLK_STS_RESOURCE;
	default:
		return BLK_STS_IOERR;
	}
	if (unlikely(rq->tag >= q->nr_cmds))
		return BLK_STS_IOERR;	/* cannot be: tags < granted depth */
	req->cmd = &q->cmds[rq->tag];
	req->cmd_dma = q->cmds_dma + rq->tag * sizeof(*req->cmd);
	req->mr = q->mrs[rq->tag];
	cmd = req->cmd;
	blk_mq_start_request(rq);
	req->requeue = false;
	req->status = BLK_STS_OK;
	req->nents = 0;
	req->mr_used = false;

	if (dev->params.mode == RDMABLK_CTL_MODE_DIRECT &&
	    (req_op(rq) == REQ_OP_READ || req_op(rq) == REQ_OP_WRITE))
		return rdmablk_queue_direct(q, rq, req);

	ib_dma_sync_single_for_cpu(dev->ibdev, req->cmd_dma, sizeof(*cmd),
				   DMA_TO_DEVICE);
	memset(cmd, 0, sizeof(*cmd));
	cmd->tag = cpu_to_le32(rq->tag);
	switch (req_op(rq)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		cmd->offset = cpu_to_le64(offset);
		cmd->length = cpu_to_le32(blk_rq_bytes(rq));
		if (req_op(rq) == REQ_OP_READ) {
			cmd->opcode = RDMABLK_OP_READ;
			ret = rdmablk_map_data(dev, rq, req, &reg,
					       IB_ACCESS_LOCAL_WRITE |
					       IB_ACCESS_REMOTE_WRITE);
		} else {
			cmd->opcode = RDMABLK_OP_WRITE;
			if ((rq->cmd_flags & REQ_FUA) &&
			    (dev->features & RDMABLK_FEAT_FUA))
				cmd->flags |= RDMABLK_CMD_F_FUA;
			if (rdmablk_use_inline(q, rq)) {
				ret = rdmablk_map_inline(q, rq, req, &sge[1]);
				if (ret < 0)
					return ret == -ENOMEM ?
						BLK_STS_RESOURCE : BLK_STS_IOERR;
				cmd->flags |= RDMABLK_CMD_F_INLINE;
				nr_sge += ret;
				break;
			}
			ret = rdmablk_map_data(dev, rq, req, &reg,
					       IB_ACCESS_REMOTE_READ);
		}
		if (ret)
			return ret == -ENOMEM ? BLK_STS_RESOURCE : BLK_STS_IOERR;
		cmd->rkey = cpu_to_le32(req->mr->rkey);
		cmd->addr = cpu_to_le64(req->mr->iova);
		if (dev->features & RDMABLK_FEAT_REMOTE_INV)
			cmd->flags |= RDMABLK_CMD_F_INVALIDATE;
		reg.wr.next = &send;
		first = &reg.wr;
		break;
	case REQ_OP_FLUSH:
		cmd->opcode = RDMABLK_OP_FLUSH;
		break;
	case REQ_OP_DISCARD:
		cmd->opcode = RDMABLK_OP_DISCARD;
		cmd->offset = cpu_to_le64(offset);
		cmd->length = cpu_to_le32(blk_rq_bytes(rq));
		break;
	case REQ_OP_WRITE_ZEROES:
		cmd->opcode = RDMABLK_OP_WRITE_ZEROES;
		cmd->offset = cpu_to_le64(offset);
		cmd->length = cpu_to_le32(blk_rq_bytes(rq));
		if (rq->cmd_flags & REQ_NOUNMAP)
			cmd->flags |= RDMABLK_CMD_F_NO_UNMAP;
		if ((rq->cmd_flags & REQ_FUA) &&
		    (dev->features & RDMABLK_FEAT_FUA))
			cmd->flags |= RDMABLK_CMD_F_FUA;
		break;
	default:
		return BLK_STS_NOTSUPP;
	}

	sge[0].addr = req->cmd_dma;
	sge[0].length = sizeof(*cmd);
	sge[0].lkey = dev->pd->local_dma_lkey;
	req->send_cqe.done = rdmablk_send_done;
	send.opcode = IB_WR_SEND;
	send.wr_cqe = &req->send_cqe;
	send.sg_list = sge;
	send.num_sge = nr_sge;
	send.send_flags = IB_SEND_SIGNALED;
	ib_dma_sync_single_for_device(dev->ibdev, req->cmd_dma, sizeof(*cmd),
				      DMA_TO_DEVICE);
	/* the SEND's completion and the response */
	atomic_set(&req->ref, 2);
	atomic_set(&req->rsp_pending, 1);
	ret = ib_post_send(q->qp, first, NULL);
	if (ret) {
		atomic_set(&req->rsp_pending, 0);
		rdmablk_error(dev, "cannot post SEND");
		return BLK_STS_IOERR;
	}
	return BLK_STS_OK;
}

void rdmablk_complete_rq(struct request *rq)
{
	struct rdmablk_req *req = blk_mq_rq_to_pdu(rq);

	if (req->nents)
		rdmablk_unmap_sg(req->queue->dev, rq, req);
	if (req->requeue) {
		req->requeue = false;
		blk_mq_requeue_request(rq, false);
		return;
	}
	req->retries = 0;
	if (req->status != BLK_STS_OK)
		atomic_long_inc(&req->queue->dev->io_errors);
	blk_mq_end_request(rq, req->status);
}

/* After the queues are drained: no completion runs concurrently. */
static bool rdmablk_cancel_rq(struct request *rq, void *data)
{
	struct rdmablk_dev *dev = data;
	struct rdmablk_req *req = blk_mq_rq_to_pdu(rq);

	if (blk_mq_request_completed(rq))
		return true;
	atomic_set(&req->rsp_pending, 0);
	/* a key it left valid dies with the queue: reconnect makes new MRs */
	req->mr_used = false;
	req->requeue = READ_ONCE(dev->state) == RDMABLK_DEV_RECONNECTING &&
		       req->retries < RDMABLK_MAX_RETRIES;
	if (req->requeue)
		req->retries++;
	req->status = BLK_STS_IOERR;
	blk_mq_complete_request(rq);
	return true;
}

static void rdmablk_unquiesce(struct rdmablk_dev *dev)
{
	if (dev->quiesced) {
		dev->quiesced = false;
		blk_mq_unquiesce_queue(dev->disk->queue);
		blk_mq_kick_requeue_list(dev->disk->queue);
	}
}

static unsigned long rdmablk_reconnect_delay(struct rdmablk_dev *dev)
{
	return (dev->params.reconnect_delay ?:
		RDMABLK_CTL_DEFAULT_RECONNECT_DELAY) * HZ;
}

/*
 * Error recovery: stop the queues so no completion runs any more, then take
 * back every request in flight: requeued while we reconnect, failed once
 * the device is dead.
 */
void rdmablk_err_work(struct work_struct *work)
{
	struct rdmablk_dev *dev = container_of(work, struct rdmablk_dev,
					       err_work);
	enum rdmablk_dev_state state;

	mutex_lock(&dev->recovery_mutex);
	if (READ_ONCE(dev->state) == RDMABLK_DEV_DELETING)
		goto out_unlock;
	cancel_delayed_work_sync(&dev->ka_work);
	if (!dev->quiesced) {
		blk_mq_quiesce_queue(dev->disk->queue);
		dev->quiesced = true;
	}
	rdmablk_stop_queues(dev);
	blk_mq_tagset_busy_iter(&dev->tag_set, rdmablk_cancel_rq, dev);
	blk_mq_tagset_wait_completed_request(&dev->tag_set);
	state = READ_ONCE(dev->state);
	if (state == RDMABLK_DEV_RECONNECTING)
		queue_delayed_work(rdmablk_wq, &dev->reconnect_work,
				   rdmablk_reconnect_delay(dev));
	else
		rdmablk_unquiesce(dev);	/* dead: fail whatever comes */
out_unlock:
	mutex_unlock(&dev->recovery_mutex);
}

/* A new session on fresh queues; the disk's geometry must not change. */
static int rdmablk_reconnect(struct rdmablk_dev *dev)
{
	u64 size = dev->size;
	u32 lbs = dev->lbs, max_io = dev->max_io_size;
	u32 features = dev->features, eflags = dev->export_flags;
	int nr_io = dev->nr_io_queues;
	u16 depth = dev->io_depth;
	int i, ret;

	/* from scratch: the route may lead to another RDMA device now */
	rdmablk_release_transport(dev);
	ret = rdmablk_connect_queue(dev, 0, dev->queues[0].want_depth);
	if (ret)
		goto out;
	ret = -ENOSPC;
	if (dev->queues[0].depth < 2)
		goto out;
	ret = rdmablk_login(dev, dev->want_queues, dev->want_depth);
	if (ret)
		goto out;
	if (dev->size != size || dev->lbs != lbs || dev->max_io_size != max_io ||
	    dev->features != features || dev->export_flags != eflags ||
	    dev->nr_io_queues != nr_io || dev->io_depth < depth) {
		pr_err("rdmablk%d: the export changed across the reconnect\n",
		       dev->index);
		ret = -ESTALE;
		goto out;
	}
	for (i = 1; i <= nr_io; i++) {
		ret = rdmablk_connect_queue(dev, i, dev->io_depth);
		if (ret)
			goto out;
		ret = -ENOSPC;
		if (dev->queues[i].depth < depth)
			goto out;
	}
	if (!nr_io && dev->queues[0].depth - 1 < depth)
		goto out;
	ret = 0;
out:
	dev->size = size;
	dev->lbs = lbs;
	dev->max_io_size = max_io;
	dev->features = features;
	dev->export_flags = eflags;
	dev->nr_io_queues = nr_io;
	dev->io_depth = depth;
	return ret;
}

void rdmablk_reconnect_work(struct work_struct *work)
{
	struct rdmablk_dev *dev = container_of(to_delayed_work(work),
					       struct rdmablk_dev,
					       reconnect_work);
	unsigned long flags;
	bool live = false, dead = false;
	int i, ret;

	mutex_lock(&dev->recovery_mutex);
	if (READ_ONCE(dev->state) != RDMABLK_DEV_RECONNECTING)
		goto out_unlock;
	ret = rdmablk_reconnect(dev);

	spin_lock_irqsave(&dev->lock, flags);
	if (dev->state == RDMABLK_DEV_RECONNECTING) {
		if (!ret) {
			dev->state = RDMABLK_DEV_LIVE;
			live = true;
		} else if (ret == -ESTALE || (dev->loss_deadline &&
			   time_after(jiffies, dev->loss_deadline))) {
			dev->state = RDMABLK_DEV_DEAD;
			dead = true;
		}
	}
	spin_unlock_irqrestore(&dev->lock, flags);

	if (live) {
		atomic_long_inc(&dev->reconnects);
		for (i = 0; i <= dev->nr_io_queues; i++)
			set_bit(RDMABLK_Q_LIVE, &dev->queues[i].flags);
		pr_info("rdmablk%d: reconnected (session %llu)\n", dev->index,
			dev->session_id);
		rdmablk_unquiesce(dev);
		queue_delayed_work(rdmablk_wq, &dev->ka_work,
				   msecs_to_jiffies(RDMABLK_KEEPALIVE_INTERVAL_MS));
	} else if (dead) {
		pr_err("rdmablk%d: giving up reconnecting; failing I/O\n",
		       dev->index);
		rdmablk_stop_queues(dev);
		rdmablk_unquiesce(dev);
	} else if (READ_ONCE(dev->state) == RDMABLK_DEV_RECONNECTING) {
		pr_info("rdmablk%d: reconnect failed (%d), retrying\n",
			dev->index, ret);
		rdmablk_stop_queues(dev);
		queue_delayed_work(rdmablk_wq, &dev->reconnect_work,
				   rdmablk_reconnect_delay(dev));
	} else {
		rdmablk_stop_queues(dev);	/* unmap took over */
	}
out_unlock:
	mutex_unlock(&dev->recovery_mutex);
}

/* Unmap: whatever recovery holds back is failed now (the device is dead). */
void rdmablk_recovery_release(struct rdmablk_dev *dev)
{
	mutex_lock(&dev->recovery_mutex);
	cancel_delayed_work(&dev->reconnect_work);
	rdmablk_unquiesce(dev);
	mutex_unlock(&dev->recovery_mutex);
}

/*
 * The RDMA device @ibdev goes away (rdma link del, driver unload): recovery
 * takes the requests back, then everything held on the device is released,
 * and reconnect_work keeps trying, through whichever device then routes to
 * the target, until ctrl_loss_tmo. Called from the ib_client remove hook,
 * which must not return while we still use @ibdev.
 */
void rdmablk_lose_ibdev(struct rdmablk_dev *dev, struct ib_device *ibdev)
{
	for (;;) {
		rdmablk_error(dev, "RDMA device removed");
		flush_work(&dev->err_work);
		mutex_lock(&dev->recovery_mutex);
		/* a reconnect may have gone live on @ibdev meanwhile: again */
		if (dev->ibdev != ibdev ||
		    READ_ONCE(dev->state) != RDMABLK_DEV_LIVE)
			break;
		mutex_unlock(&dev->recovery_mutex);
	}
	if (dev->ibdev == ibdev) {
		rdmablk_stop_queues(dev);
		rdmablk_release_transport(dev);
	}
	mutex_unlock(&dev->recovery_mutex);
}

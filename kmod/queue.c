// SPDX-License-Identifier: GPL-2.0
/*
 * rdmablk: queues. One rdma_cm id and RC QP per queue (queue 0 for login and
 * keepalive, then the I/O queues): the capsules, MRs and receive buffers a
 * queue owns, rdma_cm connect with its private data, time-limited drain and
 * teardown, and the device's PD.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <net/net_namespace.h>

#include "rdmablk.h"

int rdmablk_post_recv(struct rdmablk_queue *q, struct rdmablk_rsp_buf *r)
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

/* The CQ goes; a poller (rdmablk_poll_cq) sees it gone, never freed. */
static void rdmablk_free_cq(struct rdmablk_queue *q)
{
	struct ib_cq *cq;

	spin_lock(&q->poll_lock);
	cq = q->cq;
	q->cq = NULL;
	spin_unlock(&q->poll_lock);
	if (cq)
		ib_free_cq(cq);
}

/*
 * What all queues of the device share, made by the first queue: the PD and
 * the mapping of the internal command. Undone by rdmablk_release_transport.
 */
static int rdmablk_get_ibdev(struct rdmablk_dev *dev, struct ib_device *ibdev)
{
	if (dev->pd && dev->ibdev != ibdev)
		return -EXDEV;	/* all queues share one PD */
	if (!(ibdev->attrs.device_cap_flags & IB_DEVICE_MEM_MGT_EXTENSIONS) ||
	    ibdev->attrs.max_fast_reg_page_list_len < RDMABLK_MAX_PAGES)
		return -EOPNOTSUPP;
	if (!dev->pd) {
		struct ib_pd *pd = ib_alloc_pd(ibdev, 0);

		if (IS_ERR(pd))
			return PTR_ERR(pd);
		dev->pd = pd;
		WRITE_ONCE(dev->ibdev, ibdev);
	}
	if (!dev->icmd_dma) {
		u64 dma = ib_dma_map_single(ibdev, dev->icmd, RDMABLK_ICMD_SIZE,
					    DMA_TO_DEVICE);

		if (ib_dma_mapping_error(ibdev, dma))
			return -ENOMEM;
		dev->icmd_dma = dma;
	}
	return 0;
}

static void rdmablk_free_rsps(struct rdmablk_queue *q)
{
	int i;

	for (i = 0; i < q->nr_rsps; i++) {
		ib_dma_unmap_single(q->dev->ibdev, q->rsps[i].dma,
				    RDMABLK_MAX_RECV_SIZE, DMA_FROM_DEVICE);
		kfree(q->rsps[i].buf);
	}
	kfree(q->rsps);
	q->rsps = NULL;
	q->nr_rsps = 0;
}

/* The receive buffers: one per response that may be in flight. */
static int rdmablk_alloc_rsps(struct rdmablk_queue *q, int nr_recv)
{
	struct ib_device *ibdev = q->dev->ibdev;
	int i;

	q->rsps = kcalloc(nr_recv, sizeof(*q->rsps), GFP_KERNEL);
	if (!q->rsps)
		return -ENOMEM;
	for (i = 0; i < nr_recv; i++) {
		struct rdmablk_rsp_buf *r = &q->rsps[i];

		r->buf = kzalloc(RDMABLK_MAX_RECV_SIZE, GFP_KERNEL);
		if (!r->buf)
			goto out_free_rsps;
		r->dma = ib_dma_map_single(ibdev, r->buf, RDMABLK_MAX_RECV_SIZE,
					   DMA_FROM_DEVICE);
		if (ib_dma_mapping_error(ibdev, r->dma)) {
			kfree(r->buf);
			goto out_free_rsps;
		}
		r->cqe.done = rdmablk_recv_done;
		q->nr_rsps = i + 1;
	}
	return 0;

out_free_rsps:
	rdmablk_free_rsps(q);
	return -ENOMEM;
}

static int rdmablk_create_qp(struct rdmablk_queue *q, int nr_send,
			     int nr_recv)
{
	struct ib_device *ibdev = q->dev->ibdev;
	struct ib_qp_init_attr attr = {};
	int ret;

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
	ret = rdma_create_qp(q->cm_id, q->dev->pd, &attr);
	if (ret)
		return ret;
	q->qp = q->cm_id->qp;
	q->inline_sges = min_t(u32, attr.cap.max_send_sge,
			       1 + RDMABLK_INLINE_SEGS) - 1;
	return 0;
}

/*
 * Everything a queue holds on the RDMA device its address resolved to: CQ,
 * capsules and MRs, receive buffers, the QP with the buffers posted. On
 * error it undoes its own steps; the PD stays for rdmablk_release_transport.
 */
static int rdmablk_create_queue_ib(struct rdmablk_queue *q)
{
	struct ib_device *ibdev = q->cm_id->device;
	int nr_send = 3 * q->want_depth + 2;
	int nr_recv = q->want_depth + 1;
	int i, ret;

	ret = rdmablk_get_ibdev(q->dev, ibdev);
	if (ret)
		return ret;
	/* + 2: one for each drain WR */
	q->cq = ib_alloc_cq(ibdev, q, nr_send + nr_recv + 2,
			    q->qid % ibdev->num_comp_vectors,
			    q->poll ? IB_POLL_DIRECT : IB_POLL_SOFTIRQ);
	if (IS_ERR(q->cq)) {
		ret = PTR_ERR(q->cq);
		q->cq = NULL;
		return ret;
	}
	ret = rdmablk_alloc_cmds(q);
	if (ret)
		goto out_free_cmds;
	ret = rdmablk_alloc_rsps(q, nr_recv);
	if (ret)
		goto out_free_cmds;
	ret = rdmablk_create_qp(q, nr_send, nr_recv);
	if (ret)
		goto out_free_rsps;
	for (i = 0; i < q->nr_rsps; i++) {
		ret = rdmablk_post_recv(q, &q->rsps[i]);
		if (ret)
			goto out_destroy_qp;
	}
	return 0;

out_destroy_qp:
	rdma_destroy_qp(q->cm_id);
	q->qp = NULL;
out_free_rsps:
	rdmablk_free_rsps(q);
out_free_cmds:
	rdmablk_free_cmds(q);	/* also what a failed alloc_cmds left */
	rdmablk_free_cq(q);
	return ret;
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

/* A poll queue's CQ runs only when polled: the drain polls it itself. */
static bool rdmablk_wait_drained(struct rdmablk_queue *q,
				 struct completion *done)
{
	unsigned long deadline = jiffies + RDMABLK_DRAIN_TIMEOUT;

	if (!q->poll)
		return wait_for_completion_timeout(done, RDMABLK_DRAIN_TIMEOUT);
	while (!wait_for_completion_timeout(done, HZ / 10)) {
		rdmablk_poll_cq(q);
		if (time_after(jiffies, deadline))
			return false;
	}
	return true;
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
	    !rdmablk_wait_drained(q, &sd.done))
		return false;
	return !ib_post_recv(q->qp, &rwr, NULL) &&
	       rdmablk_wait_drained(q, &rd.done);
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
	rdmablk_free_cq(q);
}

static void rdmablk_free_queue(struct rdmablk_queue *q)
{
	if (!q->cm_id)
		return;
	rdmablk_stop_queue(q);
	if (q->qp) {
		rdma_destroy_qp(q->cm_id);
		q->qp = NULL;
	}
	/* no completion can run once the CQ is gone: then free the buffers */
	rdmablk_free_cq(q);
	rdmablk_free_rsps(q);
	rdmablk_free_cmds(q);
	rdma_destroy_id(q->cm_id);
	q->cm_id = NULL;
}

int rdmablk_connect_queue(struct rdmablk_dev *dev, u16 qid, u16 depth)
{
	struct rdmablk_queue *q = &dev->queues[qid];
	int ret;

	q->dev = dev;
	q->qid = qid;
	q->want_depth = depth;
	q->poll = qid && qid > dev->nr_io_queues - dev->nr_poll_queues;
	q->chain_first = NULL;
	q->chain_last = NULL;
	q->unsig_tail = NULL;
	q->covered = NULL;
	q->nr_covered = 0;
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
void rdmablk_release_transport(struct rdmablk_dev *dev)
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

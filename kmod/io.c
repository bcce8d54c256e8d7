// SPDX-License-Identifier: GPL-2.0
/*
 * rdmablk: the blk-mq data path. queue_rq builds a capsule (command mode)
 * or an RDMA READ/WRITE (direct mode), registers the request's pages with a
 * fresh FRWR key, posts; completions and responses (checked with
 * proto_check.h) finish the request and invalidate its key.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/scatterlist.h>

#include "rdmablk.h"

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
	WARN_ON_ONCE(!rdmablk_req_move(req, RDMABLK_REQ_INVALIDATING,
				       RDMABLK_REQ_ANSWERED));
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

/* The request a response names by its tag, or NULL. */
static struct request *rdmablk_rsp_to_rq(struct rdmablk_queue *q, u32 tag)
{
	struct rdmablk_dev *dev = q->dev;
	unsigned int hctx_idx = dev->nr_io_queues ? q->qid - 1 : 0;

	if (!dev->tag_set_alloced || hctx_idx >= dev->tag_set.nr_hw_queues ||
	    tag >= dev->tag_set.queue_depth)
		return NULL;
	return blk_mq_tag_to_rq(dev->tag_set.tags[hctx_idx], tag);
}

/* A response to a block request: find it by tag, trust nothing. */
static void rdmablk_process_rsp(struct rdmablk_queue *q,
				const struct rdmablk_rsp *rsp, struct ib_wc *wc)
{
	struct rdmablk_dev *dev = q->dev;
	bool remote_inv = wc->wc_flags & IB_WC_WITH_INVALIDATE;
	enum rdmablk_req_state next;
	struct rdmablk_req *req;
	struct request *rq;

	if (q->qid == 0 && dev->nr_io_queues) {
		rdmablk_error(dev, "I/O response on queue 0");
		return;
	}
	rq = rdmablk_rsp_to_rq(q, le32_to_cpu(rsp->tag));
	if (!rq) {
		rdmablk_error(dev, "response with an unknown tag");
		return;
	}
	req = blk_mq_rq_to_pdu(rq);
	/* a key the target did not invalidate is ours to invalidate */
	next = req->has_key && !remote_inv ? RDMABLK_REQ_INVALIDATING :
					     RDMABLK_REQ_ANSWERED;
	if (req->queue != q ||
	    !rdmablk_req_move(req, RDMABLK_REQ_POSTED, next)) {
		rdmablk_error(dev, "response to no outstanding command");
		return;
	}
	if (rdmablk_check_rsp(rsp, wc->byte_len, req->cmd)) {
		rdmablk_error(dev, "malformed response");
		return;
	}
	req->status = rdmablk_status_blk(le16_to_cpu(rsp->status));
	if (remote_inv && !req->has_key) {
		rdmablk_error(dev, "target invalidated a key it was not given");
		return;
	}
	if (remote_inv && wc->ex.invalidate_rkey != req->mr->rkey) {
		rdmablk_error(dev, "target invalidated a wrong key");
		return;
	}
	if (next == RDMABLK_REQ_INVALIDATING) {
		if (rdmablk_post_local_inv(q, req))
			rdmablk_error(dev, "cannot post LOCAL_INV");
		return;	/* rdmablk_local_inv_done() puts */
	}
	rdmablk_req_put(rq);
}

void rdmablk_recv_done(struct ib_cq *cq, struct ib_wc *wc)
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

/*
 * A signaled command SEND is done, and by send queue order so is every
 * unsignaled SEND it covers: their capsules and send slots are free.
 */
static void rdmablk_send_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct rdmablk_req *req =
		container_of(wc->wr_cqe, struct rdmablk_req, send_cqe);
	struct rdmablk_req *r, *next;

	if (unlikely(wc->status != IB_WC_SUCCESS)) {
		rdmablk_wc_error(cq->cq_context, wc, "SEND");
		return;
	}
	for (r = req->covers; r; r = next) {
		next = r->cover_next;	/* r may be reused once put */
		rdmablk_req_put(blk_mq_rq_from_pdu(r));
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
	WARN_ON_ONCE(!rdmablk_req_move(req, RDMABLK_REQ_POSTED,
				       RDMABLK_REQ_INVALIDATING));
	if (rdmablk_post_local_inv(q, req))
		rdmablk_error(q->dev, "cannot post LOCAL_INV");
}

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

/* Maps the request's pages under a fresh key of its MR (FRWR). */
static int rdmablk_map_frwr(struct rdmablk_dev *dev, struct request *rq,
			    struct rdmablk_req *req, int access)
{
	struct ib_reg_wr *reg = &req->reg_wr;
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
	req->has_key = true;
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

/* Puts the request's pages in the SEND after the capsule (req->sge[1..]). */
static int rdmablk_map_inline(struct rdmablk_queue *q, struct request *rq,
			      struct rdmablk_req *req)
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
		req->sge[1 + i].addr = sg_dma_address(sg);
		req->sge[1 + i].length = sg_dma_len(sg);
		req->sge[1 + i].lkey = dev->pd->local_dma_lkey;
	}
	req->nr_sge += count;
	req->cmd->flags |= RDMABLK_CMD_F_INLINE;
	atomic_long_inc(&q->inline_writes);
	return 0;
}

/* The capsule's FUA bit, when the request asks and the target can. */
static u8 rdmablk_fua_flag(struct rdmablk_dev *dev, struct request *rq)
{
	return (rq->cmd_flags & REQ_FUA) && (dev->features & RDMABLK_FEAT_FUA) ?
	       RDMABLK_CMD_F_FUA : 0;
}

/* Encodes the block request as a capsule: opcode, range, flags. */
static int rdmablk_setup_cmd(struct rdmablk_dev *dev, struct request *rq,
			     struct rdmablk_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->tag = cpu_to_le32(rq->tag);
	switch (req_op(rq)) {
	case REQ_OP_READ:
		cmd->opcode = RDMABLK_OP_READ;
		break;
	case REQ_OP_WRITE:
		cmd->opcode = RDMABLK_OP_WRITE;
		cmd->flags |= rdmablk_fua_flag(dev, rq);
		break;
	case REQ_OP_FLUSH:
		cmd->opcode = RDMABLK_OP_FLUSH;
		return 0;	/* the whole device: no range */
	case REQ_OP_DISCARD:
		cmd->opcode = RDMABLK_OP_DISCARD;
		break;
	case REQ_OP_WRITE_ZEROES:
		cmd->opcode = RDMABLK_OP_WRITE_ZEROES;
		cmd->flags |= rdmablk_fua_flag(dev, rq);
		if (rq->cmd_flags & REQ_NOUNMAP)
			cmd->flags |= RDMABLK_CMD_F_NO_UNMAP;
		break;
	default:
		return -EOPNOTSUPP;
	}
	cmd->offset = cpu_to_le64((u64)blk_rq_pos(rq) << SECTOR_SHIFT);
	cmd->length = cpu_to_le32(blk_rq_bytes(rq));
	return 0;
}

/*
 * The data of a READ or WRITE: inline in the SEND when small enough,
 * otherwise registered (REG_MR chained before the SEND) and named in the
 * capsule by key and address. Other commands carry no data.
 */
static int rdmablk_map_data(struct rdmablk_queue *q, struct request *rq,
			    struct rdmablk_req *req)
{
	struct rdmablk_dev *dev = q->dev;
	struct rdmablk_cmd *cmd = req->cmd;
	int access, ret;

	if (req_op(rq) != REQ_OP_READ && req_op(rq) != REQ_OP_WRITE)
		return 0;
	if (rdmablk_use_inline(q, rq))
		return rdmablk_map_inline(q, rq, req);
	access = req_op(rq) == REQ_OP_READ ?
		 IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE :
		 IB_ACCESS_REMOTE_READ;
	ret = rdmablk_map_frwr(dev, rq, req, access);
	if (ret)
		return ret;
	cmd->rkey = cpu_to_le32(req->mr->rkey);
	cmd->addr = cpu_to_le64(req->mr->iova);
	if (dev->features & RDMABLK_FEAT_REMOTE_INV)
		cmd->flags |= RDMABLK_CMD_F_INVALIDATE;
	return 0;
}

/* The capsule SEND (with inline data), after the REG_MR if any. */
static struct ib_send_wr *rdmablk_build_send(struct rdmablk_queue *q,
					     struct rdmablk_req *req)
{
	struct ib_send_wr *send = &req->send_wr;

	req->sge[0].addr = req->cmd_dma;
	req->sge[0].length = sizeof(*req->cmd);
	req->sge[0].lkey = q->dev->pd->local_dma_lkey;
	memset(send, 0, sizeof(*send));
	req->send_cqe.done = rdmablk_send_done;
	send->opcode = IB_WR_SEND;
	send->wr_cqe = &req->send_cqe;
	send->sg_list = req->sge;
	send->num_sge = req->nr_sge;
	/* signaled or not: rdmablk_chain() decides */
	ib_dma_sync_single_for_device(q->dev->ibdev, req->cmd_dma,
				      sizeof(*req->cmd), DMA_TO_DEVICE);
	if (!req->has_key)
		return send;
	req->reg_wr.wr.next = send;
	return &req->reg_wr.wr;
}

/*
 * Direct mode: the request's own RDMA READ/WRITE on the export's region,
 * after the REG_MR of its pages; no capsule, no response.
 */
static struct ib_send_wr *rdmablk_build_direct(struct rdmablk_queue *q,
					       struct request *rq,
					       struct rdmablk_req *req)
{
	struct rdmablk_dev *dev = q->dev;
	struct ib_rdma_wr *rdma = &req->rdma_wr;

	req->sge[0].addr = req->mr->iova;
	req->sge[0].length = req->mr->length;
	req->sge[0].lkey = req->mr->lkey;
	memset(rdma, 0, sizeof(*rdma));
	req->send_cqe.done = rdmablk_direct_done;
	rdma->wr.opcode = req_op(rq) == REQ_OP_WRITE ? IB_WR_RDMA_WRITE :
						       IB_WR_RDMA_READ;
	rdma->wr.wr_cqe = &req->send_cqe;
	rdma->wr.sg_list = req->sge;
	rdma->wr.num_sge = 1;
	rdma->wr.send_flags = IB_SEND_SIGNALED;
	rdma->remote_addr = dev->region_addr +
			    ((u64)blk_rq_pos(rq) << SECTOR_SHIFT);
	rdma->rkey = dev->region_rkey;
	req->reg_wr.wr.next = &rdma->wr;
	return &req->reg_wr.wr;
}

/* The chain's last unsignaled SEND is signaled; it covers the others. */
static void rdmablk_signal_tail(struct rdmablk_queue *q)
{
	struct rdmablk_req *req = q->unsig_tail;

	req->send_wr.send_flags |= IB_SEND_SIGNALED;
	req->covers = q->covered;
	q->covered = NULL;
	q->nr_covered = 0;
	q->unsig_tail = NULL;
	atomic_long_inc(&q->signaled);
}

/*
 * Appends the request's work requests (@first..@last) to the queue's chain.
 * Its answer is due from now on: another CPU's flush may post it.
 */
static void rdmablk_chain(struct rdmablk_queue *q, struct rdmablk_req *req,
			  struct ib_send_wr *first, struct ib_send_wr *last,
			  int refs)
{
	bool cmd = last == &req->send_wr;

	atomic_set(&req->ref, refs);
	req->covers = NULL;
	req->cover_next = NULL;
	last->next = NULL;
	WARN_ON_ONCE(!rdmablk_req_move(req, RDMABLK_REQ_IDLE,
				       RDMABLK_REQ_POSTED));
	spin_lock(&q->sq_lock);
	if (q->chain_last)
		q->chain_last->next = first;
	else
		q->chain_first = first;
	q->chain_last = last;
	if (cmd) {
		atomic_long_inc(&q->sends);
		if (q->unsig_tail) {
			q->unsig_tail->cover_next = q->covered;
			q->covered = q->unsig_tail;
			q->nr_covered++;
		}
		q->unsig_tail = req;
		if (q->nr_covered + 1 >= RDMABLK_SIGNAL_EVERY)
			rdmablk_signal_tail(q);
	}
	spin_unlock(&q->sq_lock);
}

/*
 * Rings the doorbell once for the whole chain. A failed post leaves some
 * requests unsent: recovery takes every request back, these included.
 */
static void rdmablk_flush_chain(struct rdmablk_queue *q)
{
	struct ib_send_wr *first;

	spin_lock(&q->sq_lock);
	if (q->unsig_tail)
		rdmablk_signal_tail(q);
	first = q->chain_first;
	q->chain_first = NULL;
	q->chain_last = NULL;
	spin_unlock(&q->sq_lock);
	if (!first)
		return;
	atomic_long_inc(&q->doorbells);
	if (ib_post_send(q->qp, first, NULL))
		rdmablk_error(q->dev, "cannot post a command");
}

static struct rdmablk_queue *rdmablk_hctx_queue(struct blk_mq_hw_ctx *hctx)
{
	struct rdmablk_dev *dev = hctx->queue->queuedata;

	return &dev->queues[dev->nr_io_queues ? hctx->queue_num + 1 : 0];
}

/* blk-mq stopped before a request with bd->last: post what is chained. */
void rdmablk_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	rdmablk_flush_chain(rdmablk_hctx_queue(hctx));
}

/* Reaps the CQ of a poll queue; one poller at a time, none once it is gone. */
int rdmablk_poll_cq(struct rdmablk_queue *q)
{
	int n = 0;

	if (!spin_trylock(&q->poll_lock))
		return 0;
	if (q->cq)
		n = ib_process_cq_direct(q->cq, -1);
	spin_unlock(&q->poll_lock);
	if (n > 0)
		atomic_long_add(n, &q->polled);
	return n;
}

/* blk-mq .poll: io_uring / preadv2 with RWF_HIPRI spin here. */
int rdmablk_poll(struct blk_mq_hw_ctx *hctx, struct io_comp_batch *iob)
{
	return rdmablk_poll_cq(rdmablk_hctx_queue(hctx));
}

/* In queue_rq only -ENOMEM and -EAGAIN are worth a retry. */
static blk_status_t rdmablk_errno_to_blk(int err)
{
	switch (err) {
	case -ENOMEM:
	case -EAGAIN:
		return BLK_STS_RESOURCE;
	case -EOPNOTSUPP:
		return BLK_STS_NOTSUPP;
	default:
		return BLK_STS_IOERR;
	}
}

/* Gives the request the capsule and the MR of its tag. */
static int rdmablk_prep_req(struct rdmablk_queue *q, struct request *rq,
			    struct rdmablk_req *req)
{
	if (unlikely(rq->tag >= q->nr_cmds))
		return -EIO;	/* cannot be: tags < granted depth */
	req->cmd = &q->cmds[rq->tag];
	req->cmd_dma = q->cmds_dma + rq->tag * sizeof(*req->cmd);
	req->mr = q->mrs[rq->tag];
	req->status = BLK_STS_OK;
	req->nents = 0;
	req->nr_sge = 1;
	req->has_key = false;
	return 0;
}

static bool rdmablk_is_direct(struct rdmablk_dev *dev, struct request *rq)
{
	return dev->params.mode == RDMABLK_CTL_MODE_DIRECT &&
	       (req_op(rq) == REQ_OP_READ || req_op(rq) == REQ_OP_WRITE);
}

blk_status_t rdmablk_queue_rq(struct blk_mq_hw_ctx *hctx,
			      const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct rdmablk_req *req = blk_mq_rq_to_pdu(rq);
	struct rdmablk_queue *q = req->queue;
	struct rdmablk_dev *dev = q->dev;
	int ret;

	switch (READ_ONCE(dev->state)) {
	case RDMABLK_DEV_LIVE:
		break;
	case RDMABLK_DEV_RECONNECTING:
		/* past fast_io_fail_tmo: a path error, multipath goes elsewhere */
		if (READ_ONCE(dev->fail_fast)) {
			atomic_long_inc(&dev->io_errors);
			return BLK_STS_TRANSPORT;
		}
		return BLK_STS_RESOURCE;	/* recovery quiesces us soon */
	default:
		return BLK_STS_IOERR;
	}
	ret = rdmablk_prep_req(q, rq, req);
	if (ret)
		goto out_flush;
	blk_mq_start_request(rq);

	if (rdmablk_is_direct(dev, rq)) {
		ret = rdmablk_map_frwr(dev, rq, req, req_op(rq) == REQ_OP_WRITE ?
				       0 : IB_ACCESS_LOCAL_WRITE);
		if (ret)
			goto out_flush;
		/* the RDMA op, then LOCAL_INV; rdmablk_local_inv_done() puts */
		rdmablk_chain(q, req, rdmablk_build_direct(q, rq, req),
			      &req->rdma_wr.wr, 1);
		goto out_flush;
	}
	ib_dma_sync_single_for_cpu(dev->ibdev, req->cmd_dma, sizeof(*req->cmd),
				   DMA_TO_DEVICE);
	ret = rdmablk_setup_cmd(dev, rq, req->cmd);
	if (!ret)
		ret = rdmablk_map_data(q, rq, req);
	if (!ret)	/* the response, and the SEND that proves this one done */
		rdmablk_chain(q, req, rdmablk_build_send(q, req),
			      &req->send_wr, 2);
out_flush:
	/* what the burst chained so far goes out, whatever this one did */
	if (bd->last)
		rdmablk_flush_chain(q);
	return ret ? rdmablk_errno_to_blk(ret) : BLK_STS_OK;
}

void rdmablk_complete_rq(struct request *rq)
{
	struct rdmablk_req *req = blk_mq_rq_to_pdu(rq);
	enum rdmablk_req_state state = xchg(&req->state, RDMABLK_REQ_IDLE);

	if (req->nents)
		rdmablk_unmap_sg(req->queue->dev, rq, req);
	switch (state) {
	case RDMABLK_REQ_REQUEUE:
		blk_mq_requeue_request(rq, false);
		return;
	case RDMABLK_REQ_ANSWERED:
		break;
	case RDMABLK_REQ_FAILED:
		req->status = BLK_STS_IOERR;
		break;
	default:
		WARN_ON_ONCE(1);
		req->status = BLK_STS_IOERR;
		break;
	}
	req->retries = 0;
	if (req->status != BLK_STS_OK)
		atomic_long_inc(&req->queue->dev->io_errors);
	blk_mq_end_request(rq, req->status);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rdmablk: the session on queue 0. LOGIN with its HMAC (docs/protocol.md),
 * the answer checked with proto_check.h, KEEPALIVEs, and the map-time
 * connect of queue 0, login, then the granted I/O queues.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <crypto/hash.h>

#include "rdmablk.h"

int rdmablk_status_errno(int status)
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

/* The answer to LOGIN or KEEPALIVE on queue 0. */
void rdmablk_process_irsp(struct rdmablk_dev *dev, const u8 *buf, u32 len)
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

static void rdmablk_isend_done(struct ib_cq *cq, struct ib_wc *wc)
{
	if (unlikely(wc->status != IB_WC_SUCCESS))
		rdmablk_wc_error(cq->cq_context, wc, "SEND");
}

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

/* The LOGIN capsule and its payload in dev->icmd; returns its length. */
static int rdmablk_build_login(struct rdmablk_dev *dev, u16 nr_queues,
			       u16 depth)
{
	struct rdmablk_cmd *cmd = (void *)dev->icmd;
	struct rdmablk_login_req *req = (void *)(dev->icmd + sizeof(*cmd));
	u32 features = RDMABLK_FEAT_REMOTE_INV | RDMABLK_FEAT_FLUSH |
		       RDMABLK_FEAT_FUA | RDMABLK_FEAT_DISCARD |
		       RDMABLK_FEAT_WRITE_ZEROES | RDMABLK_FEAT_EXPORT_ID;
	int ret;

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
		ret = rdmablk_login_mac(dev, dev->queues[0].rep.nonce, req);
		if (ret)
			return ret;
	}
	return sizeof(*cmd) + sizeof(*req);
}

/* Sends the LOGIN and waits for its answer in dev->irsp. */
static int rdmablk_login_exchange(struct rdmablk_dev *dev, u32 len)
{
	unsigned long flags;
	long left;
	int ret;

	spin_lock_irqsave(&dev->lock, flags);
	dev->iop = RDMABLK_OP_LOGIN;
	dev->ipending = true;
	dev->ierror = 0;
	dev->irsp_len = 0;
	spin_unlock_irqrestore(&dev->lock, flags);
	reinit_completion(&dev->icmd_done);
	ret = rdmablk_post_icmd(dev, len);
	if (ret)
		return ret;
	left = wait_for_completion_timeout(&dev->icmd_done,
					   RDMABLK_LOGIN_TIMEOUT);
	spin_lock_irqsave(&dev->lock, flags);
	if (!left)
		ret = -ETIMEDOUT;
	else if (dev->ipending)	/* woken by a disconnect */
		ret = dev->queues[0].cm_error ?: -ECONNRESET;
	else
		ret = dev->ierror;
	dev->ipending = false;
	spin_unlock_irqrestore(&dev->lock, flags);
	return ret;
}

/* Takes what the login response grants, after checking it. */
static int rdmablk_parse_login(struct rdmablk_dev *dev)
{
	const struct rdmablk_cmd *cmd = (const void *)dev->icmd;
	const struct rdmablk_login_req *req =
		(const void *)(dev->icmd + sizeof(*cmd));
	const struct rdmablk_rsp *rsp = (const void *)dev->irsp;
	const struct rdmablk_login_rsp *lrsp =
		(const void *)(dev->irsp + sizeof(*rsp));
	int st;

	if (rdmablk_check_rsp(rsp, dev->irsp_len, cmd)) {
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
	/* checked: well formed (and padded with NULs) when granted, else zero */
	memcpy(dev->export_id, lrsp->export_id, sizeof(lrsp->export_id));
	dev->export_id[sizeof(lrsp->export_id)] = '\0';
	return 0;
}

/* LOGIN on queue 0: a session, and the export's geometry and features. */
int rdmablk_login(struct rdmablk_dev *dev, u16 nr_queues, u16 depth)
{
	int ret;

	ret = rdmablk_build_login(dev, nr_queues, depth);
	if (ret < 0)
		return ret;
	ret = rdmablk_login_exchange(dev, ret);
	if (ret)
		return ret;
	ret = rdmablk_parse_login(dev);
	if (ret)
		return ret;
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

	/* poll queues come on top of the interrupt-driven ones */
	want_q = min_t(u32, want_q + dev->params.poll_queues,
		       RDMABLK_MAX_QUEUES - 1);
	dev->queues = kcalloc(1 + want_q, sizeof(*dev->queues), GFP_KERNEL);
	if (!dev->queues)
		return -ENOMEM;
	dev->nr_queues = 1 + want_q;
	for (i = 0; i < dev->nr_queues; i++) {
		spin_lock_init(&dev->queues[i].sq_lock);
		spin_lock_init(&dev->queues[i].poll_lock);
	}
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
	/* fewer queues than asked: the interrupt-driven ones keep one */
	if (dev->nr_io_queues > 1)
		dev->nr_poll_queues = min_t(int, dev->params.poll_queues,
					    dev->nr_io_queues - 1);

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

// SPDX-License-Identifier: GPL-2.0
/*
 * rdmablk: error recovery. A broken message, a failed completion or a lost
 * connection stops I/O on the connection (rdmablk_error), takes back every
 * request in flight (err_work), and reconnects with a new session until
 * ctrl_loss_tmo (reconnect_work); the RDMA device going away lands here too.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>

#include "rdmablk.h"

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
			dev->lost_at = jiffies;
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

void rdmablk_wc_error(struct rdmablk_queue *q, struct ib_wc *wc,
			     const char *op)
{
	if (wc->status != IB_WC_WR_FLUSH_ERR)
		pr_err("rdmablk%d: queue %u: %s failed: %s (%d)\n",
		       q->dev->index, q->qid, op,
		       ib_wc_status_msg(wc->status), wc->status);
	rdmablk_error(q->dev, "transport error");
}

/* After the queues are drained: no completion runs concurrently. */
static bool rdmablk_cancel_rq(struct request *rq, void *data)
{
	struct rdmablk_dev *dev = data;
	struct rdmablk_req *req = blk_mq_rq_to_pdu(rq);

	if (blk_mq_request_completed(rq))
		return true;
	/* a key it left valid dies with the queue: reconnect makes new MRs */
	if (READ_ONCE(dev->state) == RDMABLK_DEV_RECONNECTING &&
	    req->retries < RDMABLK_MAX_RETRIES) {
		req->retries++;
		WRITE_ONCE(req->state, RDMABLK_REQ_REQUEUE);
	} else {
		WRITE_ONCE(req->state, RDMABLK_REQ_FAILED);
	}
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
 * fast_io_fail_tmo after the loss, I/O stops waiting for the reconnect.
 * Armed by err_work once it has taken the requests back, so fail_fast_work
 * never unquiesces before err_work has quiesced.
 */
static void rdmablk_arm_fail_fast(struct rdmablk_dev *dev)
{
	unsigned long at;

	if (!(dev->params.flags & RDMABLK_CTL_F_FAST_IO_FAIL))
		return;
	at = dev->lost_at + dev->params.fast_io_fail_tmo * HZ;
	/* mod_: a timer left from an earlier loss must not fire early */
	mod_delayed_work(rdmablk_wq, &dev->fail_fast_work,
			 time_after(at, jiffies) ? at - jiffies : 0);
}

void rdmablk_fail_fast_work(struct work_struct *work)
{
	struct rdmablk_dev *dev = container_of(to_delayed_work(work),
					       struct rdmablk_dev,
					       fail_fast_work);

	mutex_lock(&dev->recovery_mutex);
	if (READ_ONCE(dev->state) == RDMABLK_DEV_RECONNECTING &&
	    !dev->fail_fast) {
		pr_info("rdmablk%d: still reconnecting after %u s: failing I/O until then\n",
			dev->index, dev->params.fast_io_fail_tmo);
		WRITE_ONCE(dev->fail_fast, true);
		rdmablk_unquiesce(dev);	/* what waits fails in queue_rq */
	}
	mutex_unlock(&dev->recovery_mutex);
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
	if (state == RDMABLK_DEV_RECONNECTING) {
		queue_delayed_work(rdmablk_wq, &dev->reconnect_work,
				   rdmablk_reconnect_delay(dev));
		rdmablk_arm_fail_fast(dev);
	} else {
		rdmablk_unquiesce(dev);	/* dead: fail whatever comes */
	}
out_unlock:
	mutex_unlock(&dev->recovery_mutex);
}

/* A new session on fresh queues; the disk's geometry must not change. */
static int rdmablk_reconnect(struct rdmablk_dev *dev)
{
	u64 size = dev->size;
	u32 lbs = dev->lbs, max_io = dev->max_io_size;
	u32 features = dev->features, eflags = dev->export_flags;
	char export_id[sizeof(dev->export_id)];
	int nr_io = dev->nr_io_queues;
	u16 depth = dev->io_depth;
	int i, ret;

	memcpy(export_id, dev->export_id, sizeof(export_id));
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
	    dev->nr_io_queues != nr_io || dev->io_depth < depth ||
	    strcmp(dev->export_id, export_id)) {
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
	memcpy(dev->export_id, export_id, sizeof(export_id));
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
	/* failing fast, I/O flows through queue_rq: hold it while we go live */
	if (!ret && !dev->quiesced) {
		blk_mq_quiesce_queue(dev->disk->queue);
		dev->quiesced = true;
	}

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
		cancel_delayed_work(&dev->fail_fast_work);
		WRITE_ONCE(dev->fail_fast, false);
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

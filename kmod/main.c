// SPDX-License-Identifier: GPL-2.0
/*
 * rdmablk: remote block devices over RDMA. This file holds the blk-mq disk,
 * the device table and the module's life; the transport is in queue.c,
 * login.c, io.c and recovery.c, the control device in ctl.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/hdreg.h>
#include <linux/idr.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "rdmablk.h"

#define RDMABLK_MAX_DEVICES 1024

struct workqueue_struct *rdmablk_wq;
static int rdmablk_major;
static DEFINE_IDR(rdmablk_idr);
/* every device from the start of its map to its unmap, for the export check */
static LIST_HEAD(rdmablk_devs);
static DEFINE_MUTEX(rdmablk_mutex);	/* rdmablk_idr, rdmablk_devs */

static enum blk_eh_timer_return rdmablk_timeout(struct request *rq)
{
	struct rdmablk_req *req = blk_mq_rq_to_pdu(rq);
	struct rdmablk_dev *dev = req->queue->dev;

	pr_warn("rdmablk%d: request tag %d timed out\n", dev->index, rq->tag);
	atomic_long_inc(&dev->timeouts);
	rdmablk_error(dev, "I/O timeout");
	/* recovery takes back every request in flight, this one included */
	if (READ_ONCE(dev->state) != RDMABLK_DEV_DELETING)
		queue_work(rdmablk_wq, &dev->err_work);
	return BLK_EH_RESET_TIMER;
}

/*
 * Hardware queue N is I/O queue N + 1: the interrupt-driven ones serve
 * reads and writes alike, the last nr_poll_queues are HCTX_TYPE_POLL.
 */
static void rdmablk_map_queues(struct blk_mq_tag_set *set)
{
	struct rdmablk_dev *dev = set->driver_data;
	unsigned int nr_poll = set->nr_maps > HCTX_TYPE_POLL ?
			       dev->nr_poll_queues : 0;
	unsigned int nr_default = set->nr_hw_queues - nr_poll;
	int i;

	for (i = 0; i < set->nr_maps; i++) {
		set->map[i].nr_queues = nr_default;
		set->map[i].queue_offset = 0;
	}
	if (nr_poll) {
		set->map[HCTX_TYPE_POLL].nr_queues = nr_poll;
		set->map[HCTX_TYPE_POLL].queue_offset = nr_default;
	}
	for (i = 0; i < set->nr_maps; i++)
		blk_mq_map_queues(&set->map[i]);
}

static const struct blk_mq_ops rdmablk_mq_ops = {
	.queue_rq	= rdmablk_queue_rq,
	.commit_rqs	= rdmablk_commit_rqs,
	.complete	= rdmablk_complete_rq,
	.init_request	= rdmablk_init_request,
	.timeout	= rdmablk_timeout,
	.map_queues	= rdmablk_map_queues,
	.poll		= rdmablk_poll,
};

/*
 * A made-up geometry, as virtio_blk and nvme give: tools that still ask
 * (multipath-tools, fdisk in DOS mode) get an answer instead of ENOTTY.
 */
static int rdmablk_getgeo(struct block_device *bdev, struct hd_geometry *geo)
{
	geo->heads = 64;
	geo->sectors = 32;
	geo->cylinders = get_capacity(bdev->bd_disk) >> 11;
	return 0;
}

static const struct block_device_operations rdmablk_fops = {
	.owner = THIS_MODULE,
	.getgeo = rdmablk_getgeo,
};

static int rdmablk_alloc_disk(struct rdmablk_dev *dev)
{
	struct blk_mq_tag_set *set = &dev->tag_set;
	bool direct = dev->params.mode == RDMABLK_CTL_MODE_DIRECT;
	struct request_queue *q;
	struct gendisk *disk;
	int ret;

	set->ops = &rdmablk_mq_ops;
	set->nr_hw_queues = dev->nr_io_queues ?: 1;
	set->nr_maps = dev->nr_poll_queues ? HCTX_MAX_TYPES : 1;
	set->queue_depth = dev->io_depth;
	set->numa_node = NUMA_NO_NODE;
	set->cmd_size = sizeof(struct rdmablk_req) +
			RDMABLK_MAX_PAGES * sizeof(struct scatterlist);
	set->flags = BLK_MQ_F_SHOULD_MERGE;
	set->driver_data = dev;
	set->timeout = (dev->params.io_timeout ?:
			RDMABLK_CTL_DEFAULT_IO_TIMEOUT) * HZ;
	ret = blk_mq_alloc_tag_set(set);
	if (ret)
		return ret;
	dev->tag_set_alloced = true;

	disk = blk_mq_alloc_disk(set, dev);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto out_free_tag_set;
	}
	disk->major = rdmablk_major;
	disk->first_minor = dev->index * RDMABLK_MINORS;
	disk->minors = RDMABLK_MINORS;
	disk->fops = &rdmablk_fops;
	disk->private_data = dev;
	snprintf(disk->disk_name, DISK_NAME_LEN, "rdmablk%d", dev->index);

	q = disk->queue;
	blk_queue_logical_block_size(q, dev->lbs);
	blk_queue_physical_block_size(q, dev->pbs);
	blk_queue_io_min(q, dev->pbs);
	if (dev->opt_io)
		blk_queue_io_opt(q, dev->opt_io);
	blk_queue_max_hw_sectors(q, dev->max_io_size >> SECTOR_SHIFT);
	blk_queue_max_segments(q, RDMABLK_MAX_PAGES);
	blk_queue_virt_boundary(q, PAGE_SIZE - 1);
	blk_queue_write_cache(q, dev->features & RDMABLK_FEAT_FLUSH,
			      !direct && (dev->features & RDMABLK_FEAT_FUA));
	if (dev->features & RDMABLK_FEAT_DISCARD) {
		q->limits.discard_granularity = dev->lbs;
		blk_queue_max_discard_sectors(q, RDMABLK_MAX_DISCARD_SIZE >>
					      SECTOR_SHIFT);
	}
	if (dev->features & RDMABLK_FEAT_WRITE_ZEROES)
		blk_queue_max_write_zeroes_sectors(q, RDMABLK_MAX_DISCARD_SIZE >>
						   SECTOR_SHIFT);
	if (!(dev->export_flags & RDMABLK_EXPORT_F_ROTATIONAL))
		blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
	set_capacity(disk, dev->size >> SECTOR_SHIFT);
	set_disk_ro(disk, (dev->export_flags & RDMABLK_EXPORT_F_READ_ONLY) ||
		    (dev->params.flags & RDMABLK_CTL_F_READ_ONLY));
	dev->disk = disk;
	return 0;

out_free_tag_set:
	blk_mq_free_tag_set(set);
	dev->tag_set_alloced = false;
	return ret;
}

static void rdmablk_set_state(struct rdmablk_dev *dev,
			      enum rdmablk_dev_state state)
{
	unsigned long flags;

	spin_lock_irqsave(&dev->lock, flags);
	dev->state = state;
	spin_unlock_irqrestore(&dev->lock, flags);
}

/* Tears down a device that was added to the system; it is off the idr. */
static void rdmablk_destroy(struct rdmablk_dev *dev)
{
	/* no more reconnects; I/O held back for one fails now */
	rdmablk_mark_removing(dev);
	rdmablk_recovery_release(dev);
	/* I/O in flight finishes (or fails through recovery) first */
	del_gendisk(dev->disk);
	rdmablk_set_state(dev, RDMABLK_DEV_DELETING);
	cancel_delayed_work_sync(&dev->ka_work);
	cancel_work_sync(&dev->err_work);
	cancel_delayed_work_sync(&dev->reconnect_work);
	cancel_delayed_work_sync(&dev->fail_fast_work);
	rdmablk_stop_queues(dev);
	blk_mq_free_tag_set(&dev->tag_set);
	put_disk(dev->disk);
	rdmablk_free_queues(dev);
	pr_info("rdmablk%d: unmapped\n", dev->index);
	memzero_explicit(dev->params.secret, sizeof(dev->params.secret));
	kfree(dev);
}

/* Same target address, port and export name. */
static bool rdmablk_same_export(const struct rdmablk_ctl_map *a,
				const struct rdmablk_ctl_map *b)
{
	return a->family == b->family &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr)) &&
	       (a->port ?: RDMABLK_DEFAULT_RDMA_PORT) ==
	       (b->port ?: RDMABLK_DEFAULT_RDMA_PORT) &&
	       !memcmp(a->export_name, b->export_name, sizeof(a->export_name));
}

/*
 * Takes an index for a new device, unless its export is mapped (or being
 * mapped) already: two disks on one export would each cache and reorder on
 * their own. Checked and claimed under one lock, so racing maps cannot
 * both pass.
 */
static int rdmablk_claim(struct rdmablk_dev *dev)
{
	struct rdmablk_dev *other;
	int ret;

	mutex_lock(&rdmablk_mutex);
	list_for_each_entry(other, &rdmablk_devs, node) {
		if (rdmablk_same_export(&other->params, &dev->params)) {
			ret = -EEXIST;
			goto out_unlock;
		}
	}
	ret = idr_alloc(&rdmablk_idr, NULL, 0, RDMABLK_MAX_DEVICES, GFP_KERNEL);
	if (ret >= 0) {
		dev->index = ret;
		list_add_tail(&dev->node, &rdmablk_devs);
		ret = 0;
	}
out_unlock:
	mutex_unlock(&rdmablk_mutex);
	return ret;
}

/* The device leaves the table; under rdmablk_mutex. */
static void rdmablk_unclaim(struct rdmablk_dev *dev)
{
	idr_remove(&rdmablk_idr, dev->index);
	list_del(&dev->node);
}

int rdmablk_map(struct rdmablk_ctl_map *p)
{
	struct rdmablk_dev *dev;
	int ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	spin_lock_init(&dev->lock);
	dev->state = RDMABLK_DEV_CONNECTING;
	dev->params = *p;
	INIT_WORK(&dev->err_work, rdmablk_err_work);
	INIT_DELAYED_WORK(&dev->ka_work, rdmablk_ka_work);
	INIT_DELAYED_WORK(&dev->reconnect_work, rdmablk_reconnect_work);
	INIT_DELAYED_WORK(&dev->fail_fast_work, rdmablk_fail_fast_work);
	mutex_init(&dev->recovery_mutex);
	init_completion(&dev->icmd_done);
	if (p->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&dev->addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(p->port ?: RDMABLK_DEFAULT_RDMA_PORT);
		memcpy(&sin->sin_addr, p->addr, sizeof(sin->sin_addr));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&dev->addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p->port ?: RDMABLK_DEFAULT_RDMA_PORT);
		sin6->sin6_scope_id = p->scope_id;
		memcpy(&sin6->sin6_addr, p->addr, sizeof(sin6->sin6_addr));
	}

	ret = rdmablk_claim(dev);
	if (ret)
		goto out_free_dev;

	ret = rdmablk_connect_all(dev);
	if (ret)
		goto out_free_queues;
	ret = rdmablk_alloc_disk(dev);
	if (ret)
		goto out_free_queues;
	rdmablk_set_state(dev, RDMABLK_DEV_LIVE);
	ret = device_add_disk(NULL, dev->disk, rdmablk_attr_groups);
	if (ret)
		goto out_put_disk;
	queue_delayed_work(rdmablk_wq, &dev->ka_work,
			   msecs_to_jiffies(RDMABLK_KEEPALIVE_INTERVAL_MS));

	mutex_lock(&rdmablk_mutex);
	idr_replace(&rdmablk_idr, dev, dev->index);
	mutex_unlock(&rdmablk_mutex);
	p->index = dev->index;
	pr_info("rdmablk%d: %.*s: %llu bytes, %d I/O queues (%d polled) of depth %u, %s mode\n",
		dev->index, RDMABLK_EXPORT_NAME_MAX, p->export_name, dev->size,
		dev->nr_io_queues ?: 1, dev->nr_poll_queues, dev->io_depth,
		p->mode == RDMABLK_CTL_MODE_DIRECT ? "direct" : "command");
	return 0;

out_put_disk:
	rdmablk_set_state(dev, RDMABLK_DEV_DELETING);
	cancel_work_sync(&dev->err_work);
	rdmablk_stop_queues(dev);
	blk_mq_free_tag_set(&dev->tag_set);
	put_disk(dev->disk);
out_free_queues:
	p->status = dev->params.status;
	rdmablk_free_queues(dev);
	mutex_lock(&rdmablk_mutex);
	rdmablk_unclaim(dev);
	mutex_unlock(&rdmablk_mutex);
out_free_dev:
	memzero_explicit(dev->params.secret, sizeof(dev->params.secret));
	kfree(dev);
	return ret;
}

int rdmablk_unmap(u32 index)
{
	struct rdmablk_dev *dev;

	mutex_lock(&rdmablk_mutex);
	dev = idr_find(&rdmablk_idr, index);
	if (dev)
		rdmablk_unclaim(dev);
	mutex_unlock(&rdmablk_mutex);
	if (!dev)
		return -ENODEV;
	rdmablk_destroy(dev);
	return 0;
}

enum rdmablk_ctl_state rdmablk_ctl_state(enum rdmablk_dev_state state)
{
	switch (state) {
	case RDMABLK_DEV_LIVE:
		return RDMABLK_CTL_STATE_LIVE;
	case RDMABLK_DEV_RECONNECTING:
		return RDMABLK_CTL_STATE_RECONNECTING;
	case RDMABLK_DEV_DELETING:
		return RDMABLK_CTL_STATE_DELETING;
	default:
		return RDMABLK_CTL_STATE_DEAD;
	}
}

static void rdmablk_fill_info(struct rdmablk_dev *dev,
			      struct rdmablk_ctl_info *info)
{
	memset(info, 0, sizeof(*info));
	info->index = dev->index;
	info->state = rdmablk_ctl_state(READ_ONCE(dev->state));
	info->family = dev->params.family;
	info->port = dev->params.port ?: RDMABLK_DEFAULT_RDMA_PORT;
	info->mode = dev->params.mode;
	memcpy(info->addr, dev->params.addr, sizeof(info->addr));
	memcpy(info->export_name, dev->params.export_name,
	       sizeof(info->export_name));
	memcpy(info->host_id, dev->params.host_id, sizeof(info->host_id));
	info->size = dev->size;
	info->session_id = dev->session_id;
	info->features = dev->features;
	info->export_flags = dev->export_flags;
	info->nr_queues = dev->nr_io_queues ?: 1;
	info->queue_depth = dev->io_depth;
	info->max_io_size = dev->max_io_size;
	info->logical_block_size = dev->lbs;
	info->flags = dev->params.flags;
	info->reconnects = atomic_long_read(&dev->reconnects);
	info->timeouts = atomic_long_read(&dev->timeouts);
	info->io_errors = atomic_long_read(&dev->io_errors);
	info->max_inline = dev->params.mode == RDMABLK_CTL_MODE_DIRECT ? 0 :
			   dev->max_inline;
}

int rdmablk_list(struct rdmablk_ctl_info __user *entries, u32 *count)
{
	struct rdmablk_ctl_info *infos = NULL;
	struct rdmablk_dev *dev;
	u32 room = min_t(u32, *count, RDMABLK_MAX_DEVICES), n = 0;
	int id, ret = 0;

	if (room) {
		infos = kvcalloc(room, sizeof(*infos), GFP_KERNEL);
		if (!infos)
			return -ENOMEM;
	}
	mutex_lock(&rdmablk_mutex);
	idr_for_each_entry(&rdmablk_idr, dev, id) {
		if (n < room)
			rdmablk_fill_info(dev, &infos[n]);
		n++;
	}
	mutex_unlock(&rdmablk_mutex);
	if (room && copy_to_user(entries, infos,
				 min(n, room) * sizeof(*infos)))
		ret = -EFAULT;
	kvfree(infos);
	*count = n;
	return ret;
}

int rdmablk_status(u32 index, struct rdmablk_ctl_info *info)
{
	struct rdmablk_dev *dev;
	int ret = -ENODEV;

	mutex_lock(&rdmablk_mutex);
	dev = idr_find(&rdmablk_idr, index);
	if (dev) {
		rdmablk_fill_info(dev, info);
		ret = 0;
	}
	mutex_unlock(&rdmablk_mutex);
	return ret;
}

/* Module exit: every device goes. */
static void rdmablk_remove_all(void)
{
	struct rdmablk_dev *dev, *next;
	LIST_HEAD(victims);
	int id;

	mutex_lock(&rdmablk_mutex);
	idr_for_each_entry(&rdmablk_idr, dev, id) {
		rdmablk_unclaim(dev);
		list_add_tail(&dev->rm_entry, &victims);
	}
	mutex_unlock(&rdmablk_mutex);
	list_for_each_entry_safe(dev, next, &victims, rm_entry)
		rdmablk_destroy(dev);
}

/*
 * An RDMA device goes away (rdma link del, driver unload): the disks on it
 * stay and reconnect through another device, or the same one back, within
 * ctrl_loss_tmo. Holding rdmablk_mutex keeps unmap from freeing them here.
 */
static void rdmablk_ib_remove(struct ib_device *ibdev, void *client_data)
{
	struct rdmablk_dev *dev;
	int id;

	mutex_lock(&rdmablk_mutex);
	idr_for_each_entry(&rdmablk_idr, dev, id)
		if (READ_ONCE(dev->ibdev) == ibdev)
			rdmablk_lose_ibdev(dev, ibdev);
	mutex_unlock(&rdmablk_mutex);
}

static struct ib_client rdmablk_ib_client = {
	.name	= "rdmablk",
	.remove	= rdmablk_ib_remove,
};

static int __init rdmablk_init(void)
{
	int ret;

	rdmablk_wq = alloc_workqueue("rdmablk", WQ_MEM_RECLAIM, 0);
	if (!rdmablk_wq)
		return -ENOMEM;
	ret = register_blkdev(0, "rdmablk");
	if (ret < 0)
		goto out_destroy_wq;
	rdmablk_major = ret;
	ret = ib_register_client(&rdmablk_ib_client);
	if (ret)
		goto out_unregister_blkdev;
	ret = rdmablk_ctl_init();
	if (ret)
		goto out_unregister_client;
	pr_info("loaded (control: /dev/%s)\n", RDMABLK_CTL_NAME);
	return 0;

out_unregister_client:
	ib_unregister_client(&rdmablk_ib_client);
out_unregister_blkdev:
	unregister_blkdev(rdmablk_major, "rdmablk");
out_destroy_wq:
	destroy_workqueue(rdmablk_wq);
	return ret;
}

static void __exit rdmablk_exit(void)
{
	rdmablk_ctl_exit();
	/* devices nobody holds open (an open one pins the module) */
	rdmablk_remove_all();
	ib_unregister_client(&rdmablk_ib_client);
	unregister_blkdev(rdmablk_major, "rdmablk");
	destroy_workqueue(rdmablk_wq);
	idr_destroy(&rdmablk_idr);
}

module_init(rdmablk_init);
module_exit(rdmablk_exit);

MODULE_AUTHOR("rdmablk authors");
MODULE_DESCRIPTION("rdmablk: remote block device over RDMA (zero-copy FRWR)");
MODULE_LICENSE("GPL");

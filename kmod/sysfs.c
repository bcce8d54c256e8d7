// SPDX-License-Identifier: GPL-2.0
/*
 * rdmablk: /sys/block/rdmablkN/rdmablk/, one value per file, for udev rules,
 * monitoring and scripts that should not need the control ioctls, and
 * /sys/block/rdmablkN/wwid, the disk's identity (as nvme has it) that
 * multipath-tools groups paths by. The files live as long as the disk:
 * del_gendisk() removes them before the device is freed.
 */
#include <linux/sysfs.h>

#include "rdmablk.h"

static struct rdmablk_dev *to_rdmablk(struct device *kdev)
{
	return dev_to_disk(kdev)->private_data;
}

static const char *const rdmablk_state_names[] = {
	[RDMABLK_CTL_STATE_LIVE] = "live",
	[RDMABLK_CTL_STATE_RECONNECTING] = "reconnecting",
	[RDMABLK_CTL_STATE_DEAD] = "dead",
	[RDMABLK_CTL_STATE_DELETING] = "deleting",
};

static ssize_t state_show(struct device *kdev, struct device_attribute *attr,
			  char *buf)
{
	enum rdmablk_ctl_state s =
		rdmablk_ctl_state(READ_ONCE(to_rdmablk(kdev)->state));

	return sysfs_emit(buf, "%s\n", rdmablk_state_names[s]);
}
static DEVICE_ATTR_RO(state);

static ssize_t target_show(struct device *kdev, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%pISpc\n", &to_rdmablk(kdev)->addr);
}
static DEVICE_ATTR_RO(target);

/* The names were checked at map time: printable ASCII, NUL-padded. */
static ssize_t export_show(struct device *kdev, struct device_attribute *attr,
			   char *buf)
{
	struct rdmablk_ctl_map *p = &to_rdmablk(kdev)->params;

	return sysfs_emit(buf, "%.*s\n", (int)sizeof(p->export_name),
			  p->export_name);
}
static DEVICE_ATTR_RO(export);

static ssize_t host_id_show(struct device *kdev, struct device_attribute *attr,
			    char *buf)
{
	struct rdmablk_ctl_map *p = &to_rdmablk(kdev)->params;

	return sysfs_emit(buf, "%.*s\n", (int)sizeof(p->host_id), p->host_id);
}
static DEVICE_ATTR_RO(host_id);

/*
 * The export's identity from the login (checked: [A-Za-z0-9._:-]); it never
 * changes while mapped, a reconnect to another one fails. Empty if none.
 */
static ssize_t serial_show(struct device *kdev, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%s\n", to_rdmablk(kdev)->export_id);
}
static DEVICE_ATTR_RO(serial);

/* "rdmablk.<serial>": no WWID of another kind of disk looks like it. */
static ssize_t wwid_show(struct device *kdev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "rdmablk.%s\n", to_rdmablk(kdev)->export_id);
}
static DEVICE_ATTR_RO(wwid);

static ssize_t mode_show(struct device *kdev, struct device_attribute *attr,
			 char *buf)
{
	bool direct = to_rdmablk(kdev)->params.mode == RDMABLK_CTL_MODE_DIRECT;

	return sysfs_emit(buf, "%s\n", direct ? "direct" : "command");
}
static DEVICE_ATTR_RO(mode);

static ssize_t nr_queues_show(struct device *kdev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", to_rdmablk(kdev)->nr_io_queues ?: 1);
}
static DEVICE_ATTR_RO(nr_queues);

static ssize_t max_inline_show(struct device *kdev,
			       struct device_attribute *attr, char *buf)
{
	struct rdmablk_dev *dev = to_rdmablk(kdev);
	bool direct = dev->params.mode == RDMABLK_CTL_MODE_DIRECT;

	return sysfs_emit(buf, "%u\n", direct ? 0 : READ_ONCE(dev->max_inline));
}
static DEVICE_ATTR_RO(max_inline);

static ssize_t ctrl_loss_tmo_show(struct device *kdev,
				  struct device_attribute *attr, char *buf)
{
	s32 tmo = to_rdmablk(kdev)->params.ctrl_loss_tmo;

	return sysfs_emit(buf, "%d\n", tmo ?: RDMABLK_CTL_DEFAULT_CTRL_LOSS_TMO);
}
static DEVICE_ATTR_RO(ctrl_loss_tmo);

/* -1: off (I/O waits for the reconnect) */
static ssize_t fast_io_fail_tmo_show(struct device *kdev,
				     struct device_attribute *attr, char *buf)
{
	struct rdmablk_ctl_map *p = &to_rdmablk(kdev)->params;

	if (!(p->flags & RDMABLK_CTL_F_FAST_IO_FAIL))
		return sysfs_emit(buf, "-1\n");
	return sysfs_emit(buf, "%u\n", p->fast_io_fail_tmo);
}
static DEVICE_ATTR_RO(fast_io_fail_tmo);

static ssize_t reconnect_delay_show(struct device *kdev,
				    struct device_attribute *attr, char *buf)
{
	u32 delay = to_rdmablk(kdev)->params.reconnect_delay;

	return sysfs_emit(buf, "%u\n",
			  delay ?: RDMABLK_CTL_DEFAULT_RECONNECT_DELAY);
}
static DEVICE_ATTR_RO(reconnect_delay);

/*
 * Counters kept per queue (no shared cache line on the hot path), summed:
 * inline WRITEs, command SENDs and the signaled ones, doorbells (one
 * ib_post_send per chain of requests), completions reaped by .poll.
 */
#define RDMABLK_QUEUE_SUM_ATTR(name)					\
static ssize_t name##_show(struct device *kdev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	struct rdmablk_dev *dev = to_rdmablk(kdev);			\
	long sum = 0;							\
	int i;								\
									\
	for (i = 0; i < dev->nr_queues; i++)				\
		sum += atomic_long_read(&dev->queues[i].name);		\
	return sysfs_emit(buf, "%ld\n", sum);				\
}									\
static DEVICE_ATTR_RO(name)

RDMABLK_QUEUE_SUM_ATTR(inline_writes);
RDMABLK_QUEUE_SUM_ATTR(sends);
RDMABLK_QUEUE_SUM_ATTR(signaled);
RDMABLK_QUEUE_SUM_ATTR(doorbells);
RDMABLK_QUEUE_SUM_ATTR(polled);

/* Plain values of struct rdmablk_dev, read without a lock: each is a word. */
#define RDMABLK_VALUE_ATTR(name, field, fmt)				\
static ssize_t name##_show(struct device *kdev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, fmt "\n",				\
			  READ_ONCE(to_rdmablk(kdev)->field));		\
}									\
static DEVICE_ATTR_RO(name)

#define RDMABLK_COUNTER_ATTR(name)					\
static ssize_t name##_show(struct device *kdev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%ld\n",					\
			  atomic_long_read(&to_rdmablk(kdev)->name));	\
}									\
static DEVICE_ATTR_RO(name)

RDMABLK_VALUE_ATTR(session_id, session_id, "%llu");
RDMABLK_VALUE_ATTR(queue_depth, io_depth, "%u");
RDMABLK_VALUE_ATTR(max_io_size, max_io_size, "%u");
RDMABLK_VALUE_ATTR(features, features, "0x%x");
RDMABLK_VALUE_ATTR(poll_queues, nr_poll_queues, "%d");
RDMABLK_COUNTER_ATTR(reconnects);
RDMABLK_COUNTER_ATTR(io_errors);
RDMABLK_COUNTER_ATTR(timeouts);

static struct attribute *rdmablk_attrs[] = {
	&dev_attr_state.attr,
	&dev_attr_target.attr,
	&dev_attr_export.attr,
	&dev_attr_host_id.attr,
	&dev_attr_serial.attr,
	&dev_attr_mode.attr,
	&dev_attr_session_id.attr,
	&dev_attr_nr_queues.attr,
	&dev_attr_queue_depth.attr,
	&dev_attr_max_io_size.attr,
	&dev_attr_max_inline.attr,
	&dev_attr_features.attr,
	&dev_attr_reconnect_delay.attr,
	&dev_attr_ctrl_loss_tmo.attr,
	&dev_attr_fast_io_fail_tmo.attr,
	&dev_attr_reconnects.attr,
	&dev_attr_io_errors.attr,
	&dev_attr_timeouts.attr,
	&dev_attr_inline_writes.attr,
	&dev_attr_poll_queues.attr,
	&dev_attr_sends.attr,
	&dev_attr_signaled.attr,
	&dev_attr_doorbells.attr,
	&dev_attr_polled.attr,
	NULL,
};

static const struct attribute_group rdmablk_attr_group = {
	.name = "rdmablk",
	.attrs = rdmablk_attrs,
};

static struct attribute *rdmablk_id_attrs[] = {
	&dev_attr_wwid.attr,
	NULL,
};

/* only a disk with an identity has a wwid: no two share an empty one */
static umode_t rdmablk_id_visible(struct kobject *kobj, struct attribute *a,
				  int n)
{
	struct device *kdev = kobj_to_dev(kobj);

	return to_rdmablk(kdev)->export_id[0] ? a->mode : 0;
}

static const struct attribute_group rdmablk_id_group = {
	.attrs = rdmablk_id_attrs,
	.is_visible = rdmablk_id_visible,
};

const struct attribute_group *rdmablk_attr_groups[] = {
	&rdmablk_attr_group,
	&rdmablk_id_group,
	NULL,
};

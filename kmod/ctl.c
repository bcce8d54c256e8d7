// SPDX-License-Identifier: GPL-2.0
/*
 * rdmablk: the control device /dev/rdmablk-control. Its ioctls
 * (common/include/rdmablk/ctl.h, docs/kernel.md) map, unmap and list
 * devices. Every field from userspace is checked before use.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/in.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "rdmablk.h"

static int rdmablk_check_map(const struct rdmablk_ctl_map *p)
{
	if (p->version != RDMABLK_CTL_VERSION)
		return -EPROTONOSUPPORT;
	if ((p->flags & ~RDMABLK_CTL_F_ALL) || p->rsvd0 ||
	    memchr_inv(p->rsvd1, 0, sizeof(p->rsvd1)))
		return -EINVAL;
	switch (p->family) {
	case AF_INET:
		if (p->scope_id || memchr_inv(p->addr + 4, 0, sizeof(p->addr) - 4))
			return -EINVAL;
		break;
	case AF_INET6:
		break;
	default:
		return -EAFNOSUPPORT;
	}
	if (!memchr_inv(p->addr, 0, sizeof(p->addr)))
		return -EDESTADDRREQ;
	if (rdmablk_check_name(p->export_name, sizeof(p->export_name)) ||
	    rdmablk_check_name(p->host_id, sizeof(p->host_id)))
		return -EINVAL;
	if (p->secret_len > RDMABLK_CTL_SECRET_MAX ||
	    memchr_inv(p->secret + p->secret_len, 0,
		       sizeof(p->secret) - p->secret_len))
		return -EINVAL;
	if (p->nr_queues >= RDMABLK_MAX_QUEUES ||
	    p->queue_depth > RDMABLK_MAX_QUEUE_DEPTH - 1 ||
	    p->poll_queues > RDMABLK_CTL_MAX_POLL_QUEUES)
		return -EINVAL;
	if (p->mode != RDMABLK_CTL_MODE_COMMAND &&
	    p->mode != RDMABLK_CTL_MODE_DIRECT)
		return -EINVAL;
	if (p->reconnect_delay > 3600 || p->ctrl_loss_tmo < -1 ||
	    p->io_timeout > RDMABLK_CTL_MAX_IO_TIMEOUT)
		return -EINVAL;
	if (p->flags & RDMABLK_CTL_F_FAST_IO_FAIL ?
	    p->fast_io_fail_tmo > RDMABLK_CTL_MAX_FAST_IO_FAIL_TMO :
	    p->fast_io_fail_tmo != 0)
		return -EINVAL;
	return 0;
}

static long rdmablk_ctl_map(void __user *argp)
{
	struct rdmablk_ctl_map *p;
	long ret;

	p = memdup_user(argp, sizeof(*p));
	if (IS_ERR(p))
		return PTR_ERR(p);
	ret = rdmablk_check_map(p);
	if (ret)
		goto out_free;
	p->index = 0;
	p->status = 0;
	ret = rdmablk_map(p);
	/* index on success, the target's refusal on failure */
	if (copy_to_user(argp + offsetof(struct rdmablk_ctl_map, index),
			 &p->index, sizeof(p->index) + sizeof(p->status)))
		ret = ret ?: -EFAULT;
out_free:
	memzero_explicit(p->secret, sizeof(p->secret));
	kfree(p);
	return ret;
}

static long rdmablk_ctl_unmap(void __user *argp)
{
	struct rdmablk_ctl_unmap u;

	if (copy_from_user(&u, argp, sizeof(u)))
		return -EFAULT;
	if (u.version != RDMABLK_CTL_VERSION)
		return -EPROTONOSUPPORT;
	if (u.flags || u.rsvd)
		return -EINVAL;
	return rdmablk_unmap(u.index);
}

static long rdmablk_ctl_list(void __user *argp)
{
	struct rdmablk_ctl_list l;
	int ret;

	if (copy_from_user(&l, argp, sizeof(l)))
		return -EFAULT;
	if (l.version != RDMABLK_CTL_VERSION)
		return -EPROTONOSUPPORT;
	if (memchr_inv(l.rsvd, 0, sizeof(l.rsvd)) || (l.count && !l.entries))
		return -EINVAL;
	ret = rdmablk_list(u64_to_user_ptr(l.entries), &l.count);
	if (ret)
		return ret;
	if (put_user(l.count, (__u32 __user *)(argp +
			offsetof(struct rdmablk_ctl_list, count))))
		return -EFAULT;
	return 0;
}

static long rdmablk_ctl_status(void __user *argp)
{
	struct rdmablk_ctl_status s;
	int ret;

	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	if (s.version != RDMABLK_CTL_VERSION)
		return -EPROTONOSUPPORT;
	ret = rdmablk_status(s.index, &s.info);
	if (ret)
		return ret;
	if (copy_to_user(argp, &s, sizeof(s)))
		return -EFAULT;
	return 0;
}

static long rdmablk_ctl_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case RDMABLK_CTL_MAP:
		return rdmablk_ctl_map(argp);
	case RDMABLK_CTL_UNMAP:
		return rdmablk_ctl_unmap(argp);
	case RDMABLK_CTL_LIST:
		return rdmablk_ctl_list(argp);
	case RDMABLK_CTL_STATUS:
		return rdmablk_ctl_status(argp);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations rdmablk_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= rdmablk_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice rdmablk_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= RDMABLK_CTL_NAME,
	.fops	= &rdmablk_ctl_fops,
	.mode	= 0600,
};

int rdmablk_ctl_init(void)
{
	return misc_register(&rdmablk_misc);
}

void rdmablk_ctl_exit(void)
{
	misc_deregister(&rdmablk_misc);
}

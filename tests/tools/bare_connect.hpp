#pragma once
// bare_connect: the cheapest RDMA connect a test tool can make, for floods
// and burst tests that only need the target to see a connection: an RC QP
// one work request deep on the given PD and CQ, and rdma_connect with
// `req` as private data. false when a step fails (errno set).
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "rdmablk/proto.h"

namespace rdmablk::tools {

inline bool bare_connect(rdma_cm_id* id, ibv_pd* pd, ibv_cq* cq, const rdmablk_cm_req& req) {
  if (!pd || !cq || id->verbs != pd->context) return false;
  ibv_qp_init_attr qa{};
  qa.send_cq = qa.recv_cq = cq;
  qa.qp_type = IBV_QPT_RC;
  qa.cap.max_send_wr = qa.cap.max_recv_wr = 1;
  qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
  rdma_conn_param cp{};
  cp.private_data = &req;
  cp.private_data_len = sizeof(req);
  cp.initiator_depth = cp.responder_resources = 1;
  cp.retry_count = cp.rnr_retry_count = 7;
  return rdma_create_qp(id, pd, &qa) == 0 && rdma_connect(id, &cp) == 0;
}

}  // namespace rdmablk::tools

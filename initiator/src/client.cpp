// Client::open / list_exports pick the transport from the URL scheme; the
// blocking helpers wrap the asynchronous calls.
#include <future>
#include <stdexcept>

#include "client_options.hpp"
#include "nbd_client.hpp"
#include "nbd_handshake.hpp"
#include "rdma_client.hpp"
#include "rdmablk/url.hpp"

namespace rdmablk {

namespace {

template <class Parse>
Url parse_or_throw(Parse parse, const std::string& text) {
  try {
    return parse(text);
  } catch (const std::invalid_argument& e) {
    throw Error(std::errc::invalid_argument, e.what());
  }
}

}  // namespace

std::unique_ptr<Client> Client::open(const std::string& url_text, ClientOptions opts) {
  Url url = parse_or_throw(parse_url, url_text);
  opts = apply_url_options(opts, url.options);
  if (url.transport == Transport::rdma) return rdma::RdmaClient::open(url, opts);
  return nbd::NbdClient::open(url, opts);
}

std::vector<ExportInfo> Client::list_exports(const std::string& host_url, ClientOptions opts) {
  Url url = parse_or_throw(parse_host_url, host_url);
  opts = apply_url_options(opts, url.options);
  if (url.transport == Transport::rdma) return rdma::discover(url, opts);
  return nbd::list_exports(url, opts.timeout);
}

namespace {

// Runs one asynchronous request and waits for its completion.
template <class Submit>
std::error_code wait_for(Submit submit) {
  std::promise<std::error_code> done;
  auto result = done.get_future();
  submit([&done](std::error_code ec) { done.set_value(ec); });
  return result.get();
}

}  // namespace

std::error_code Client::read_sync(uint64_t offset, std::span<std::byte> buf) {
  return wait_for([&](Completion c) { read(offset, buf, std::move(c)); });
}

std::error_code Client::write_sync(uint64_t offset, std::span<const std::byte> buf, bool fua) {
  return wait_for([&](Completion c) { write(offset, buf, std::move(c), fua); });
}

std::error_code Client::flush_sync() {
  return wait_for([&](Completion c) { flush(std::move(c)); });
}

}  // namespace rdmablk

// Test-only: a minimal HTTP/1.1 server on 127.0.0.1 whose handlers write raw bytes, for download tests
// that need what a well-behaved server library will not do (ignore Range, stall, drop mid-body). One
// request per connection ("Connection: close"); each connection runs on its own thread. Header-only so
// that both src/base/download_test.cc and tests/pull_e2e_test.cc can use it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace flotilla::testutil {

class LoopbackHttpServer {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers;  // keys lowercased
    std::string Header(const std::string& lower_name) const {
      auto it = headers.find(lower_name);
      return it == headers.end() ? "" : it->second;
    }
  };

  // The client side of one connection.
  class Conn {
   public:
    explicit Conn(int fd, const std::atomic<bool>* stopping) : fd_(fd), stopping_(stopping) {}
    // Writes all of `bytes`; false once the client has gone away.
    bool Write(std::string_view bytes) {
      while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<size_t>(n));
      }
      return true;
    }
    // Holds the connection open without sending, until the client closes it, the server stops or
    // `max` passes.
    void Stall(std::chrono::milliseconds max) {
      auto end = std::chrono::steady_clock::now() + max;
      while (std::chrono::steady_clock::now() < end && !stopping_->load()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) > 0) {
          char c;
          if (::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) return;  // client closed
        }
      }
    }

   private:
    int fd_;
    const std::atomic<bool>* stopping_;
  };

  using Handler = std::function<void(const Request&, Conn&)>;

  explicit LoopbackHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0) {
      std::abort();
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~LoopbackHttpServer() {
    stopping_ = true;
    accept_thread_.join();
    for (std::thread& t : conn_threads_) t.join();
    ::close(listen_fd_);
  }

  int port() const { return port_; }
  std::string Url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  // "HTTP/1.1 <code> <reason>" headers with Content-Length and Connection: close, then `body`.
  static std::string Response(int code, std::string_view reason, std::string_view body,
                              std::string_view extra_headers = {}, int64_t content_length = -1) {
    std::string r = "HTTP/1.1 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
    r += "Content-Length: " + std::to_string(content_length >= 0 ? content_length : int64_t(body.size())) + "\r\n";
    r += "Connection: close\r\n";
    r += extra_headers;
    r += "\r\n";
    r += body;
    return r;
  }

  // Serves `blob` honouring a "Range: bytes=N-" header (206, or 416 "bytes */size" past the end).
  static void ServeWithRange(const Request& req, Conn& conn, const std::string& blob) {
    std::string range = req.Header("range");
    if (range.rfind("bytes=", 0) != 0 || range.back() != '-') {
      conn.Write(Response(200, "OK", blob));
      return;
    }
    size_t start = std::stoull(range.substr(6));
    if (start >= blob.size()) {
      conn.Write(Response(416, "Range Not Satisfiable", "", "Content-Range: bytes */" + std::to_string(blob.size()) + "\r\n"));
      return;
    }
    std::string cr = "Content-Range: bytes " + std::to_string(start) + "-" + std::to_string(blob.size() - 1) + "/" +
                     std::to_string(blob.size()) + "\r\n";
    conn.Write(Response(206, "Partial Content", std::string_view(blob).substr(start), cr));
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      conn_threads_.emplace_back([this, fd] {
        Request req;
        if (ReadRequest(fd, &req)) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            requests_.push_back(req);
          }
          Conn conn(fd, &stopping_);
          handler_(req, conn);
        }
        ::shutdown(fd, SHUT_RDWR);
        ::close(fd);
      });
    }
  }

  // Reads the request line and headers (bodies are not expected).
  bool ReadRequest(int fd, Request* req) {
    std::string buf;
    char chunk[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (buf.find("\r\n\r\n") == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline || stopping_) return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buf.append(chunk, static_cast<size_t>(n));
    }
    size_t eol = buf.find("\r\n");
    std::string line = buf.substr(0, eol);
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1) return false;
    req->method = line.substr(0, sp1);
    req->path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (size_t pos = eol + 2; pos < buf.size();) {
      size_t end = buf.find("\r\n", pos);
      if (end == std::string::npos || end == pos) break;
      std::string h = buf.substr(pos, end - pos);
      size_t colon = h.find(':');
      if (colon != std::string::npos) {
        std::string key = h.substr(0, colon);
        for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t v = h.find_first_not_of(' ', colon + 1);
        req->headers[key] = v == std::string::npos ? "" : h.substr(v);
      }
      pos = end + 2;
    }
    return true;
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::vector<std::thread> conn_threads_;  // touched only by the accept thread until it is joined
  mutable std::mutex mu_;
  std::vector<Request> requests_;
};

}  // namespace flotilla::testutil

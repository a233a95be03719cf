#include "czifs/interrupt.h"

#include <utility>

namespace czifs {

Interrupt::Subscription::~Subscription() {
  if (owner_) owner_->Unsubscribe(id_);
}

Interrupt::Subscription& Interrupt::Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    if (owner_) owner_->Unsubscribe(id_);
    owner_ = std::exchange(o.owner_, nullptr);
    id_ = o.id_;
  }
  return *this;
}

void Interrupt::Raise() {
  MutexLock lock(&mu_);
  if (raised_.exchange(true, std::memory_order_acq_rel)) return;
  for (auto& [id, wake] : wakers_) wake();
}

Interrupt::Subscription Interrupt::OnRaise(std::function<void()> wake) {
  MutexLock lock(&mu_);
  if (raised()) {
    wake();
    return Subscription();
  }
  const uint64_t id = next_id_++;
  wakers_.emplace(id, std::move(wake));
  return Subscription(this, id);
}

void Interrupt::Unsubscribe(uint64_t id) {
  MutexLock lock(&mu_);
  wakers_.erase(id);
}

std::shared_ptr<Interrupt> Interrupt::ChildOf(const std::shared_ptr<Interrupt>& parent) {
  auto child = std::make_shared<Interrupt>();
  // The child outlives its subscription (it holds it), so a raw pointer is safe.
  Interrupt* raw = child.get();
  child->parent_ = parent;
  child->to_parent_ = parent->OnRaise([raw] { raw->Raise(); });
  return child;
}

}  // namespace czifs

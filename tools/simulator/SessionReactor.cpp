#include "SessionReactor.h"

#include "SimulatedSession.h"

#include <spdlog/spdlog.h>

namespace sideband::simulator {

SessionReactor::SessionReactor(int loops)
    : timers_(&SimulatedSession::onTimer), splitWrites_(&SimulatedSession::onSplitWriteDue) {
    for (int i = 0; i < std::max(1, loops); ++i)
        loops_.push_back(std::make_unique<Loop>());
}

SessionReactor::~SessionReactor() {
    stop();
}

void SessionReactor::start() {
    if (running_.exchange(true)) return;
    for (auto& loop : loops_)
        loop->thread = std::thread([this, &loop] { runLoop(*loop); });
    timers_.start();
    splitWrites_.start();
}

void SessionReactor::stop() {
    if (!running_.exchange(false)) return;
    for (auto& loop : loops_)
        if (loop->thread.joinable()) loop->thread.join();
    timers_.stop();
    splitWrites_.stop();
    for (auto& loop : loops_) {
        std::lock_guard<std::mutex> lock(loop->mutex);
        loop->pollSet.clear();
        loop->sessions.clear();
    }
}

void SessionReactor::add(const std::shared_ptr<SimulatedSession>& session) {
    auto& loop = *loops_[next_++ % loops_.size()];
    std::lock_guard<std::mutex> lock(loop.mutex);
    loop.sessions[session->socket().impl()] = session;
    loop.pollSet.add(session->socket(), Poco::Net::PollSet::POLL_READ);
}

void SessionReactor::remove(const SimulatedSession& session) {
    for (auto& loop : loops_) {
        std::lock_guard<std::mutex> lock(loop->mutex);
        const auto it = loop->sessions.find(session.socket().impl());
        if (it == loop->sessions.end()) continue;
        try {
            loop->pollSet.remove(session.socket());
        } catch (const Poco::Exception&) {
            // already gone from epoll (fd closed); nothing to undo
        }
        // The map holds the last reference during onReadable only through the copy the loop took,
        // so erasing here is safe even while the loop is inside this session.
        loop->sessions.erase(it);
        return;
    }
}

void SessionReactor::runLoop(Loop& loop) {
    std::vector<std::shared_ptr<SimulatedSession>> ready;
    while (running_) {
        bool empty;
        {
            std::lock_guard<std::mutex> lock(loop.mutex);
            empty = loop.sessions.empty();
        }
        if (empty) {
            // Poco 1.11's PollSet has no wake-up; an empty set returns at once, so nap briefly.
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        Poco::Net::PollSet::SocketModeMap events;
        try {
            events = loop.pollSet.poll(Poco::Timespan(0, 50 * 1000));
        } catch (const Poco::Exception& e) {
            spdlog::warn("simulator: poll failed: {}", e.displayText());
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        ready.clear();
        {
            std::lock_guard<std::mutex> lock(loop.mutex);
            for (const auto& [socket, mode] : events) {
                (void)mode; // read, error and hang-up all mean: try to read and see
                const auto it = loop.sessions.find(socket.impl());
                if (it != loop.sessions.end()) ready.push_back(it->second);
            }
            // A quiet tick: every session looks for data itself (onReadable reads only what is
            // there). CI once saw a frame wait for a script's 10 s timer without a readiness
            // report; this bounds such a wait to one tick.
            if (events.empty())
                for (const auto& entry : loop.sessions)
                    ready.push_back(entry.second);
        }
        for (const auto& session : ready)
            session->onReadable();
    }
}

void SessionReactor::schedule(std::chrono::steady_clock::time_point at, std::weak_ptr<SimulatedSession> session,
                              std::uint64_t generation) {
    timers_.schedule(at, std::move(session), generation);
}

void SessionReactor::scheduleSplitWrite(std::chrono::steady_clock::time_point at,
                                        std::weak_ptr<SimulatedSession> session) {
    splitWrites_.schedule(at, std::move(session), 0);
}

void SessionReactor::TimerThread::start() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_) return;
    running_ = true;
    thread_ = std::thread([this] { run(); });
}

void SessionReactor::TimerThread::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        running_ = false;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    timers_ = {};
}

void SessionReactor::TimerThread::schedule(std::chrono::steady_clock::time_point at,
                                           std::weak_ptr<SimulatedSession> session, std::uint64_t generation) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        timers_.push(Timer{at, std::move(session), generation});
    }
    changed_.notify_all();
}

void SessionReactor::TimerThread::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (running_) {
        if (timers_.empty()) {
            changed_.wait(lock);
            continue;
        }
        const auto at = timers_.top().at;
        if (std::chrono::steady_clock::now() < at) {
            changed_.wait_until(lock, at);
            continue;
        }
        auto timer = timers_.top();
        timers_.pop();
        lock.unlock();
        if (auto session = timer.session.lock()) ((*session).*callback_)(timer.generation);
        lock.lock();
    }
}

} // namespace sideband::simulator

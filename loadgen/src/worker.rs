//! The per-thread event loop: non-blocking connections on one epoll instance, a timerfd for
//! exact send times, pipelined requests with a FIFO of outstanding ones per connection.

use crate::config::MAX_VALUE_SIZE;
use crate::dist::Arrivals;
use crate::keys::{self, Rng, Sizes};
use crate::proto::{self, Op, Parse, Response};
use crate::sched::Schedule;
use crate::stats::{ErrorKind, Stats};
use crate::sys::{self, Epoll, TimerFd, EV_ERR, EV_IN, EV_OUT};
use crate::window::Window;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

/// What every worker needs to know about the run. Times are CLOCK_MONOTONIC ns.
#[derive(Clone, Debug)]
pub struct Plan {
    pub addr: SocketAddr,
    /// Some(requests/s per connection) for open loop.
    pub rate_per_conn: Option<f64>,
    /// Open-loop inter-arrival distribution.
    pub arrivals: Arrivals,
    pub depth: usize,
    pub max_pipeline: usize,
    pub get_ratio: f64,
    pub keys: u64,
    /// Key and value length of each key.
    pub sizes: Sizes,
    pub seed: u64,
    pub start_ns: u64,
    /// The end of the warm-up, of sending and of the drain.
    pub window: Arc<Window>,
    pub spin: bool,
}

const RECONNECT_DELAY_NS: u64 = 100_000_000;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const TIMER_TOKEN: u64 = u64::MAX;

/// A request sent (or queued in the write buffer) and not yet answered.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// When it was due: the open-loop schedule, the send time in closed loop.
    sched: u64,
    key: u64,
    op: Op,
}

pub struct Conn {
    index: usize,
    token: u64,
    stream: Option<TcpStream>,
    rbuf: Vec<u8>,
    rstart: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    writable: bool,
    fifo: VecDeque<Pending>,
    rng: Rng,
    sched: Option<Schedule>,
    reconnect_at: u64,
}

pub fn connect(addr: &SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(addr, CONNECT_TIMEOUT)?;
    s.set_nodelay(true)?;
    Ok(s)
}

impl Conn {
    /// Connection number `index` of the run, over an already connected stream.
    pub fn new(index: usize, stream: TcpStream, plan: &Plan) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        let sched = plan.rate_per_conn.map(|r| {
            // Schedule and workload streams are independent of each other and per connection.
            Schedule::new(
                Rng::for_stream(plan.seed, 2 * index as u64),
                plan.arrivals,
                r,
                plan.start_ns,
            )
        });
        Ok(Conn {
            index,
            token: 0,
            stream: Some(stream),
            rbuf: Vec::with_capacity(64 * 1024),
            rstart: 0,
            wbuf: Vec::with_capacity(16 * 1024),
            wpos: 0,
            writable: true,
            fifo: VecDeque::new(),
            rng: Rng::for_stream(plan.seed, 2 * index as u64 + 1),
            sched,
            reconnect_at: 0,
        })
    }

    fn alive(&self) -> bool {
        self.stream.is_some()
    }

    /// Queue one request due at `sched`.
    fn emit(&mut self, plan: &Plan, sched: u64) {
        let op = if self.rng.next_f64() < plan.get_ratio {
            Op::Get
        } else {
            Op::Set
        };
        let key = self.rng.below(plan.keys);
        let key_size = plan.sizes.key_size(key);
        match op {
            Op::Get => proto::encode_get(&mut self.wbuf, key, key_size),
            Op::Set => {
                let value_size = plan.sizes.value_size(key);
                proto::encode_set(&mut self.wbuf, key, key_size, value_size)
            }
        }
        self.fifo.push_back(Pending { sched, key, op });
    }

    /// Queue every request that is due by `now`.
    fn generate(&mut self, plan: &Plan, now: u64, stats: &mut Stats) {
        if let Some(mut sched) = self.sched.take() {
            while self.fifo.len() < plan.max_pipeline {
                let t = sched.peek();
                if t > now || t >= plan.window.end_ns() {
                    break;
                }
                sched.pop();
                if t >= plan.window.warmup_end_ns() {
                    stats.scheduled += 1;
                    stats.send_lag.saturating_record(now - t);
                }
                self.emit(plan, t);
            }
            self.sched = Some(sched);
        } else {
            while self.fifo.len() < plan.depth {
                self.emit(plan, now);
            }
        }
    }

    /// Open loop, at the end: count the requests still owed (scheduled, never sent).
    fn count_unsent(&mut self, plan: &Plan, stats: &mut Stats) {
        if let Some(sched) = &mut self.sched {
            while sched.peek() < plan.window.end_ns() {
                if sched.pop() >= plan.window.warmup_end_ns() {
                    stats.scheduled += 1;
                    stats.unsent += 1;
                }
            }
        }
    }

    /// Write as much of the write buffer as the socket takes.
    fn flush(&mut self) -> io::Result<()> {
        let Some(stream) = &mut self.stream else {
            return Ok(());
        };
        while self.writable && self.wpos < self.wbuf.len() {
            match stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        } else if self.wpos > 64 * 1024 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        Ok(())
    }

    /// Drop the connection: every outstanding request is lost. It is re-opened later
    /// unless the run is over.
    fn fail(&mut self, ep: &Epoll, stats: &mut Stats, now: u64, why: &str) {
        if let Some(s) = self.stream.take() {
            ep.delete(s.as_raw_fd());
        }
        let lost = self.fifo.len() as u64;
        stats.error(ErrorKind::ConnectionLost, lost, || {
            format!(
                "connection {}: {why}; {lost} outstanding requests lost",
                self.index
            )
        });
        self.fifo.clear();
        self.rbuf.clear();
        self.rstart = 0;
        self.wbuf.clear();
        self.wpos = 0;
        self.reconnect_at = now + RECONNECT_DELAY_NS;
    }

    fn reconnect(&mut self, plan: &Plan, ep: &Epoll, stats: &mut Stats) {
        match connect(&plan.addr).and_then(|s| {
            s.set_nonblocking(true)?;
            ep.add(s.as_raw_fd(), self.token, EV_IN | EV_OUT | EV_ERR)?;
            Ok(s)
        }) {
            Ok(s) => {
                self.stream = Some(s);
                self.writable = true;
                stats.reconnects += 1;
            }
            Err(_) => self.reconnect_at = sys::now_ns() + RECONNECT_DELAY_NS,
        }
    }

    /// Read everything available and handle each complete response. Err(why) means the
    /// connection must be dropped.
    fn read_all(
        &mut self,
        plan: &Plan,
        tmp: &mut [u8],
        scratch: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> Result<(), String> {
        loop {
            let Some(stream) = &mut self.stream else {
                return Ok(());
            };
            match stream.read(tmp) {
                Ok(0) => return Err("connection closed by the server".into()),
                Ok(n) => {
                    let now = sys::now_ns();
                    self.rbuf.extend_from_slice(&tmp[..n]);
                    self.process(plan, now, scratch, stats)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    fn process(
        &mut self,
        plan: &Plan,
        now: u64,
        scratch: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> Result<(), String> {
        loop {
            match proto::parse(&self.rbuf[self.rstart..], MAX_VALUE_SIZE) {
                Parse::Done(resp, n) => {
                    let head = self.fifo.pop_front();
                    check(plan, head, resp, now, scratch, stats, self.index);
                    self.rstart += n;
                }
                Parse::Incomplete => break,
                Parse::Malformed(why) => {
                    self.fifo.pop_front();
                    let msg = format!("connection {}: malformed reply: {why}", self.index);
                    stats.error(ErrorKind::Malformed, 1, || msg.clone());
                    return Err(msg);
                }
            }
        }
        if self.rstart == self.rbuf.len() {
            self.rbuf.clear();
            self.rstart = 0;
        } else if self.rstart > 64 * 1024 {
            self.rbuf.drain(..self.rstart);
            self.rstart = 0;
        }
        Ok(())
    }
}

/// Account for and verify one response against the request it answers.
fn check(
    plan: &Plan,
    head: Option<Pending>,
    resp: Response<'_>,
    now: u64,
    scratch: &mut Vec<u8>,
    stats: &mut Stats,
    conn: usize,
) {
    let Some(p) = head else {
        stats.error(ErrorKind::UnexpectedResponse, 1, || {
            format!("connection {conn}: reply with no request outstanding: {resp:?}")
        });
        return;
    };
    if p.sched >= plan.window.warmup_end_ns() {
        stats.latency.saturating_record(now.saturating_sub(p.sched));
        match p.op {
            Op::Get => stats.gets += 1,
            Op::Set => stats.sets += 1,
        }
    }
    scratch.clear();
    keys::write_key(scratch, p.key, plan.sizes.key_size(p.key));
    let key = &scratch[..];
    match (p.op, resp) {
        (
            Op::Get,
            Response::Value {
                key: k,
                flags,
                data,
            },
        ) => {
            let len = plan.sizes.value_size(p.key);
            if k != key || flags != 0 || !keys::value_matches(key, len, data) {
                stats.error(ErrorKind::WrongValue, 1, || {
                    format!(
                        "get {}: got key {} flags {flags} {} bytes {}",
                        proto::show(key),
                        proto::show(k),
                        data.len(),
                        proto::show(data)
                    )
                });
            }
        }
        (Op::Get, Response::End) => stats.misses += 1,
        (Op::Set, Response::Stored) => {}
        (op, resp) => stats.error(ErrorKind::UnexpectedResponse, 1, || {
            let got = match resp {
                Response::Other(line) => proto::show(line),
                r => format!("{r:?}"),
            };
            format!("{op:?} {}: unexpected reply {got}", proto::show(key))
        }),
    }
}

/// Run one worker's connections until the end of the run plus drain time.
pub fn run(plan: &Plan, mut conns: Vec<Conn>) -> io::Result<Stats> {
    sys::minimize_timer_slack();
    let mut stats = Stats::default();
    let ep = Epoll::new()?;
    let mut timer = TimerFd::new()?;
    ep.add(timer.fd(), TIMER_TOKEN, EV_IN)?;
    // Epoll tokens are positions in `conns` (`index` is the run-wide number, for messages).
    for (i, c) in conns.iter_mut().enumerate() {
        c.token = i as u64;
        let fd = c.stream.as_ref().expect("connected").as_raw_fd();
        ep.add(fd, c.token, EV_IN | EV_OUT | EV_ERR)?;
    }
    let mut evbuf = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut events = Vec::with_capacity(256);
    let mut tmp = vec![0u8; 64 * 1024];
    let mut scratch = Vec::with_capacity(256);
    let mut draining = false;

    loop {
        let now = sys::now_ns();
        if !draining && now >= plan.window.end_ns() {
            draining = true;
            for c in &mut conns {
                // Open loop: requests due before the end are still owed, even if this thread
                // wakes late; send them (their latency counts from the schedule).
                if c.alive() && c.sched.is_some() {
                    c.generate(plan, now, &mut stats);
                }
                c.count_unsent(plan, &mut stats);
            }
        }
        if draining {
            if now >= plan.window.drain_end_ns() || conns.iter().all(|c| c.fifo.is_empty()) {
                break;
            }
        } else if now >= plan.start_ns {
            for c in &mut conns {
                if !c.alive() && now >= c.reconnect_at {
                    c.reconnect(plan, &ep, &mut stats);
                }
                if c.alive() {
                    c.generate(plan, now, &mut stats);
                }
            }
        }
        for c in &mut conns {
            if let Err(e) = c.flush() {
                c.fail(&ep, &mut stats, now, &format!("write: {e}"));
            }
        }

        // Sleep until the next thing due: a scheduled send, a reconnect, the end.
        let mut deadline = if draining {
            plan.window.drain_end_ns()
        } else if now < plan.start_ns {
            plan.start_ns
        } else {
            plan.window.end_ns()
        };
        if !draining && now >= plan.start_ns {
            for c in &conns {
                if !c.alive() {
                    deadline = deadline.min(c.reconnect_at);
                } else if let Some(s) = &c.sched {
                    if c.fifo.len() < plan.max_pipeline {
                        deadline = deadline.min(s.peek());
                    }
                }
            }
        }
        let timeout = if plan.spin || deadline <= now {
            0
        } else {
            timer.arm_at(deadline)?;
            -1
        };
        ep.wait(&mut evbuf, timeout, &mut events)?;
        for &(token, ev) in &events {
            if token == TIMER_TOKEN {
                timer.ack();
                continue;
            }
            let c = &mut conns[token as usize];
            if !c.alive() {
                continue;
            }
            if ev & EV_OUT != 0 {
                c.writable = true;
            }
            if ev & (EV_IN | EV_ERR) != 0 {
                if let Err(why) = c.read_all(plan, &mut tmp, &mut scratch, &mut stats) {
                    let now = sys::now_ns();
                    c.fail(&ep, &mut stats, now, &why);
                }
            }
        }
    }

    for c in &conns {
        let n = c.fifo.len() as u64;
        stats.error(ErrorKind::Timeout, n, || {
            format!(
                "connection {}: {n} requests unanswered at the end of the drain time",
                c.index
            )
        });
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::{KeySize, ValueSize};
    use crate::preload;

    const KEYS: u64 = 3000;

    fn plan(sizes: Sizes) -> Plan {
        Plan {
            addr: "127.0.0.1:1".parse().unwrap(),
            rate_per_conn: None,
            arrivals: Arrivals::Exponential,
            depth: 1,
            max_pipeline: 1,
            get_ratio: 1.0,
            keys: KEYS,
            sizes,
            seed: 1,
            start_ns: 0,
            window: {
                let window = Window::open_ended();
                window.open(0, 0, 0);
                Arc::new(window)
            },
            spin: false,
        }
    }

    /// The (key, value) of each `set <key> 0 0 <len>\r\n<value>\r\n` in `buf`.
    fn sets(mut buf: &[u8]) -> Vec<(&[u8], &[u8])> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let eol = buf.windows(2).position(|w| w == b"\r\n").unwrap();
            let line = std::str::from_utf8(&buf[..eol]).unwrap();
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!((f.len(), f[0], f[2], f[3]), (5, "set", "0", "0"), "{line}");
            let len: usize = f[4].parse().unwrap();
            let data = eol + 2;
            assert_eq!(&buf[data + len..data + len + 2], b"\r\n");
            out.push((&buf[4..4 + f[1].len()], &buf[data..data + len]));
            buf = &buf[data + len + 2..];
        }
        out
    }

    /// Verify `value` as the reply to a get of key number `idx`; the number of errors.
    fn verify(plan: &Plan, idx: u64, key: &[u8], value: &[u8]) -> u64 {
        let mut stats = Stats::default();
        let head = Some(Pending {
            sched: 0,
            key: idx,
            op: Op::Get,
        });
        let resp = Response::Value {
            key,
            flags: 0,
            data: value,
        };
        check(plan, head, resp, 1, &mut Vec::new(), &mut stats, 0);
        stats.total_errors()
    }

    #[test]
    fn preloaded_values_pass_get_verification() {
        for (k, v) in [
            (KeySize::FbKey, ValueSize::FbValue),
            (KeySize::Fixed(16), ValueSize::FbValue),
            (KeySize::FbKey, ValueSize::Fixed(64)),
            (KeySize::Fixed(16), ValueSize::Fixed(64)),
        ] {
            let sizes = Sizes::new(k, v, KEYS);
            let plan = plan(sizes);
            let mut buf = Vec::new();
            preload::encode_sets(&mut buf, 0..KEYS, &sizes);
            let sets = sets(&buf);
            assert_eq!(sets.len() as u64, KEYS);
            for (i, &(key, value)) in sets.iter().enumerate() {
                let i = i as u64;
                assert_eq!(key.len(), sizes.key_size(i));
                assert_eq!(value.len(), sizes.value_size(i));
                assert_eq!(verify(&plan, i, key, value), 0, "{k:?} {v:?} key {i}");
            }
            // The distributions really vary the lengths from key to key.
            let distinct = |f: &dyn Fn(u64) -> usize| {
                (0..KEYS)
                    .map(f)
                    .collect::<std::collections::HashSet<_>>()
                    .len()
            };
            let want = |fixed: bool| if fixed { 1..2 } else { 20..10_000 };
            assert!(want(k.fixed().is_some()).contains(&distinct(&|i| sizes.key_size(i))));
            assert!(want(v.fixed().is_some()).contains(&distinct(&|i| sizes.value_size(i))));
        }
    }

    #[test]
    fn verification_catches_a_value_of_another_length() {
        let sizes = Sizes::new(KeySize::FbKey, ValueSize::FbValue, KEYS);
        let plan = plan(sizes);
        let mut buf = Vec::new();
        preload::encode_sets(&mut buf, 0..KEYS, &sizes);
        let sets = sets(&buf);
        // A key whose value has a tail size: one byte short, or one byte long, is wrong.
        let (i, &(key, value)) = sets
            .iter()
            .enumerate()
            .find(|(_, s)| s.1.len() > 20)
            .unwrap();
        let mut long = Vec::new();
        keys::write_value(&mut long, key, value.len() + 1);
        assert_eq!(verify(&plan, i as u64, key, &value[..value.len() - 1]), 1);
        assert_eq!(verify(&plan, i as u64, key, &long), 1);
        // The same bytes verified as a neighbouring key (another key and length) are wrong.
        assert_eq!(verify(&plan, i as u64 + 1, key, value), 1);
    }
}

//! Step 5 (part): one number's send history, the SMS back-off and the voice gate.
//!
//! Toll fraud pays per call minute, so a call is the expensive, abusable channel. The
//! anti-fraud guides' rule is enforced server side: a number may be called only after
//! [`Gate::attempts`] SMS attempts, each at least a growing delay after the one before
//! (the first resend waits `min_delay_s`, each later one twice as long as the last).
//! The same back-off paces SMS resends, and its next wait is what the 202 announces as
//! `retry_after_s`. Numbers whose type cannot receive SMS (fixed lines) may be called
//! directly; they are still rate limited.
//!
//! An attempt is recorded only after Twilio accepted the send, which happens only after
//! the captcha passed: a bot without a valid token cannot spend a real user's attempts.

use crate::config::Config;
use crate::decision::{Reason, Scope};
use crate::phone::NumberType;
use crate::request::Channel;
use serde::{Deserialize, Serialize};

/// The gate's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    /// SMS attempts required before a call (0: calls are never gated).
    pub attempts: u32,
    /// The wait before the first resend, in seconds.
    pub min_delay_s: u32,
}

impl Gate {
    pub fn from_config(config: &Config) -> Gate {
        Gate { attempts: config.voice_gate_sms_attempts, min_delay_s: config.voice_gate_min_delay_s }
    }

    /// Seconds that must pass after the `n`th SMS (n ≥ 1) before the next send.
    pub fn delay_after(&self, n: usize) -> u64 {
        let doublings = n.saturating_sub(1).min(16) as u32;
        u64::from(self.min_delay_s).saturating_mul(1 << doublings)
    }
}

/// How long a number's history is kept after its last send: long enough to span the
/// whole back-off, and never under KV's 60-second minimum TTL.
pub fn history_ttl_s(gate: &Gate) -> u64 {
    (gate.delay_after(gate.attempts.max(1) as usize + 1) * 2).max(3600)
}

/// The SMS sends to one number, oldest first, in milliseconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub sms_ms: Vec<u64>,
}

/// Why the gate refuses a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The back-off: seconds until the next send may go.
    Wait(u64),
    /// A call before enough text messages.
    CallLocked { required: u32, sent: u32 },
}

impl From<Refusal> for Reason {
    fn from(refusal: Refusal) -> Reason {
        match refusal {
            Refusal::Wait(retry_after_s) => Reason::RateLimited { scope: Scope::Phone, retry_after_s },
            Refusal::CallLocked { required, sent } => Reason::ChannelNotAllowed(format!(
                "a call is offered only after {required} text messages to this number; {sent} sent so far"
            )),
        }
    }
}

/// What the 202 tells the client about this number after a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outlook {
    pub sms_attempts: u32,
    pub call_available: bool,
    pub retry_after_s: u64,
}

impl History {
    /// Forgets sends older than `ttl_s`: a history that expired in the store would be gone.
    pub fn recent(mut self, now_ms: u64, ttl_s: u64) -> History {
        self.sms_ms.retain(|&t| now_ms.saturating_sub(t) < ttl_s * 1000);
        self
    }

    /// Seconds until the next send may go, 0 if it may go now.
    fn wait_s(&self, gate: &Gate, now_ms: u64) -> u64 {
        match self.sms_ms.last() {
            None => 0,
            Some(&last) => {
                let due = last + gate.delay_after(self.sms_ms.len()) * 1000;
                due.saturating_sub(now_ms).div_ceil(1000)
            }
        }
    }

    /// Whether a send on `channel` to a number of `kind` may go now.
    pub fn admit(&self, gate: &Gate, channel: Channel, kind: NumberType, now_ms: u64) -> Result<(), Refusal> {
        let wait = self.wait_s(gate, now_ms);
        let sent = self.sms_ms.len() as u32;
        match channel {
            Channel::Call if kind.receives_sms() && sent < gate.attempts => {
                Err(Refusal::CallLocked { required: gate.attempts, sent })
            }
            Channel::Call if !kind.receives_sms() => Ok(()),
            _ if wait > 0 => Err(Refusal::Wait(wait)),
            _ => Ok(()),
        }
    }

    /// Takes back a send recorded at `at_ms` that Twilio then refused.
    pub fn unrecord(&mut self, channel: Channel, at_ms: u64) {
        if channel != Channel::Call {
            if let Some(i) = self.sms_ms.iter().rposition(|&t| t == at_ms) {
                self.sms_ms.remove(i);
            }
        }
    }

    /// Records a send that Twilio accepted and says what comes next.
    pub fn record(&mut self, gate: &Gate, channel: Channel, now_ms: u64) -> Outlook {
        if channel != Channel::Call {
            self.sms_ms.push(now_ms);
        }
        let count = self.sms_ms.len() as u32;
        Outlook {
            sms_attempts: count,
            call_available: count >= gate.attempts,
            retry_after_s: self.wait_s(gate, now_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::*;

    const GATE: Gate = Gate { attempts: 3, min_delay_s: 30 };
    const S: u64 = 1000;

    fn code(result: Result<(), Refusal>) -> &'static str {
        result.map_or_else(|r| Reason::from(r).code(), |()| "ok")
    }

    #[test]
    fn unrecord_takes_back_one_send() {
        let mut h = History::default();
        h.record(&GATE, Sms, 1000);
        h.record(&GATE, Sms, 2000);
        h.unrecord(Sms, 2000);
        assert_eq!(h.sms_ms, vec![1000]);
        h.unrecord(Call, 1000);
        assert_eq!(h.sms_ms, vec![1000]);
    }

    #[test]
    fn back_off_doubles() {
        assert_eq!((GATE.delay_after(1), GATE.delay_after(2), GATE.delay_after(3)), (30, 60, 120));
        assert_eq!(Gate { attempts: 3, min_delay_s: 3600 }.delay_after(40), 3600 << 16);
    }

    #[test]
    fn call_only_after_three_time_delayed_sms() {
        let mut h = History::default();
        let mobile = NumberType::Mobile;
        let t0 = 1_000_000 * S;
        assert_eq!(code(h.admit(&GATE, Call, mobile, t0)), "channel_not_allowed");
        assert!(h.admit(&GATE, Sms, mobile, t0).is_ok());
        let o = h.record(&GATE, Sms, t0);
        assert_eq!(o, Outlook { sms_attempts: 1, call_available: false, retry_after_s: 30 });

        // The resend waits exactly 30 s: refused one millisecond early, with the exact wait.
        let early = Reason::from(h.admit(&GATE, Sms, mobile, t0 + 30 * S - 1).unwrap_err());
        assert_eq!(early, Reason::RateLimited { scope: Scope::Phone, retry_after_s: 1 });
        assert_eq!(h.admit(&GATE, Sms, mobile, t0 + 10 * S), Err(Refusal::Wait(20)));
        assert!(h.admit(&GATE, Sms, mobile, t0 + 30 * S).is_ok());
        let o = h.record(&GATE, Sms, t0 + 30 * S);
        assert_eq!(o, Outlook { sms_attempts: 2, call_available: false, retry_after_s: 60 });
        assert_eq!(code(h.admit(&GATE, Call, mobile, t0 + 30 * S)), "channel_not_allowed");

        let t2 = t0 + 90 * S;
        assert!(h.admit(&GATE, Sms, mobile, t2).is_ok());
        let o = h.record(&GATE, Sms, t2);
        assert_eq!(o, Outlook { sms_attempts: 3, call_available: true, retry_after_s: 120 });
        // The call is now unlocked; it is still paced by the back-off.
        assert_eq!(code(h.admit(&GATE, Call, mobile, t2 + S)), "rate_limited");
        assert!(h.admit(&GATE, Call, mobile, t2 + 120 * S).is_ok());
        let o = h.record(&GATE, Call, t2 + 120 * S);
        assert_eq!(o.sms_attempts, 3);
    }

    #[test]
    fn fixed_lines_may_be_called_directly() {
        let h = History::default();
        assert!(h.admit(&GATE, Call, NumberType::FixedLine, 0).is_ok());
        assert_eq!(code(h.admit(&GATE, Call, NumberType::FixedLineOrMobile, 0)), "channel_not_allowed");
    }

    #[test]
    fn gate_off_allows_calls() {
        let off = Gate { attempts: 0, min_delay_s: 30 };
        assert!(History::default().admit(&off, Call, NumberType::Mobile, 0).is_ok());
    }

    #[test]
    fn old_sends_are_forgotten() {
        let h = History { sms_ms: vec![0, 1000 * S, 5000 * S] };
        assert_eq!(h.recent(5000 * S, 3600).sms_ms, vec![5000 * S]);
    }
}

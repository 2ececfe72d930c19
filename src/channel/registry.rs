//! The configured channels of this process, by `ChannelId` (live or sandbox: never both).

use super::{Channel, ChannelId};
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Channels {
    wechat: Option<Arc<dyn Channel>>,
    alipay: Option<Arc<dyn Channel>>,
}

impl Channels {
    pub fn new() -> Channels {
        Channels::default()
    }

    /// Adds a channel under its own id (replacing one there).
    pub fn with(mut self, channel: Arc<dyn Channel>) -> Channels {
        match channel.id() {
            ChannelId::Wechat => self.wechat = Some(channel),
            ChannelId::Alipay => self.alipay = Some(channel),
        }
        self
    }

    pub fn get(&self, id: ChannelId) -> Option<&Arc<dyn Channel>> {
        match id {
            ChannelId::Wechat => self.wechat.as_ref(),
            ChannelId::Alipay => self.alipay.as_ref(),
        }
    }

    /// Every configured channel, in `ChannelId` order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Channel>> {
        ChannelId::ALL.into_iter().filter_map(|id| self.get(id))
    }

    pub fn ids(&self) -> Vec<ChannelId> {
        self.iter().map(|c| c.id()).collect()
    }
}

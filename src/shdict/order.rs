//! Use order of a dictionary's keys: an intrusive doubly linked list over a slab, so moving
//! a key to the most recent end, unlinking it and finding the least recent are O(1) (the
//! ordered map it replaces cost a tree rebalance and a key copy per read).

const NIL: u32 = u32::MAX;

struct Node {
    key: Box<[u8]>,
    prev: u32,
    next: u32,
}

/// Slots are handed out by `push_front` and stay valid until `remove`.
#[derive(Default)]
pub(super) struct Order {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Most recently used.
    head: Option<u32>,
    /// Least recently used.
    tail: Option<u32>,
}

impl std::fmt::Debug for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter_lru().map(|k| k.to_vec()))
            .finish()
    }
}

impl Order {
    /// Adds `key` as the most recently used; returns its slot.
    pub(super) fn push_front(&mut self, key: &[u8]) -> u32 {
        let node = Node {
            key: key.into(),
            prev: NIL,
            next: self.head.unwrap_or(NIL),
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.nodes[s as usize] = node;
                s
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.link_front(slot);
        slot
    }

    /// Marks `slot` the most recently used.
    pub(super) fn touch(&mut self, slot: u32) {
        if self.head == Some(slot) {
            return;
        }
        self.unlink(slot);
        self.nodes[slot as usize].next = self.head.unwrap_or(NIL);
        self.nodes[slot as usize].prev = NIL;
        self.link_front(slot);
    }

    pub(super) fn remove(&mut self, slot: u32) {
        self.unlink(slot);
        self.nodes[slot as usize].key = Box::default();
        self.free.push(slot);
    }

    /// The least recently used key.
    pub(super) fn lru(&self) -> Option<&[u8]> {
        self.tail.map(|t| &*self.nodes[t as usize].key)
    }

    /// Keys from the least to the most recently used.
    pub(super) fn iter_lru(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = self.tail;
        std::iter::from_fn(move || {
            let s = at?;
            let n = &self.nodes[s as usize];
            at = (n.prev != NIL).then_some(n.prev);
            Some(&*n.key)
        })
    }

    /// Links a node whose `next` already points at the old head.
    fn link_front(&mut self, slot: u32) {
        if let Some(h) = self.head {
            self.nodes[h as usize].prev = slot;
        }
        self.head = Some(slot);
        if self.tail.is_none() {
            self.tail = Some(slot);
        }
    }

    fn unlink(&mut self, slot: u32) {
        let (prev, next) = {
            let n = &self.nodes[slot as usize];
            (n.prev, n.next)
        };
        if prev == NIL {
            self.head = (next != NIL).then_some(next);
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = (prev != NIL).then_some(prev);
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Order;

    fn keys(o: &Order) -> Vec<&[u8]> {
        o.iter_lru().collect()
    }

    #[test]
    fn order_follows_use_and_reuses_slots() {
        let mut o = Order::default();
        let a = o.push_front(b"a");
        let b = o.push_front(b"b");
        let c = o.push_front(b"c");
        assert_eq!(keys(&o), [b"a", b"b", b"c"]);
        o.touch(a);
        assert_eq!(keys(&o), [b"b", b"c", b"a"]);
        o.touch(a);
        assert_eq!(o.lru(), Some(&b"b"[..]));
        o.remove(c);
        assert_eq!(keys(&o), [b"b", b"a"]);
        let d = o.push_front(b"d");
        assert_eq!(d, c, "a freed slot is reused");
        o.remove(b);
        o.remove(a);
        assert_eq!(keys(&o), [b"d"]);
        o.remove(d);
        assert_eq!(o.lru(), None);
        assert!(keys(&o).is_empty());
    }
}

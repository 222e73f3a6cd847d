//! Entries named by token: the one addressing scheme of connections and streams.
//!
//! A token is a slot and the slot's generation (`generation << SLOT_BITS | slot`). Slots
//! are reused, generations are not (for 2^12 reuses): a token that outlived its entry (a
//! late epoll event for a closed connection, a late write for a finished request on a
//! kept-alive connection) names nothing rather than the slot's next occupant.

/// Bits of a token that name the slot; the rest is the generation.
/// JavaScript finds a request by its slot: `Layout.TOKEN_SLOT_BITS` in src/native/batch.ts
/// must match (the binding reports it; a test compares them).
pub const SLOT_BITS: u32 = 20;
/// The slot bits of a token; also one more than the most slots a table has.
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// The generation bits kept in a token.
const GENERATION_MASK: u32 = 0xfff;

struct Slot<T> {
    generation: u32,
    entry: Option<T>,
}

/// A table of entries addressed by slot, named by token.
pub struct Table<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table { slots: Vec::new(), free: Vec::new() }
    }
}

/// The slot the next entry goes into, before it is taken: its token is known first, so
/// a caller can use it (write it into a batch) and insert only if that worked.
pub struct Vacant<'t, T> {
    table: &'t mut Table<T>,
    slot: u32,
}

impl<T> Table<T> {
    /// The slot a new entry would take; `None` when 2^20 - 1 entries are live.
    pub fn vacant(&mut self) -> Option<Vacant<'_, T>> {
        let slot = match self.free.last() {
            Some(&slot) => slot,
            None if self.slots.len() < SLOT_MASK as usize => self.slots.len() as u32,
            None => return None,
        };
        Some(Vacant { table: self, slot })
    }

    /// The entry in `slot`.
    pub fn get(&self, slot: u32) -> Option<&T> {
        self.slots.get(slot as usize).and_then(|s| s.entry.as_ref())
    }

    /// The entry in `slot`, to change.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.slots.get_mut(slot as usize).and_then(|s| s.entry.as_mut())
    }

    /// The slot of the live entry `token`; `None` if that entry is gone.
    pub fn slot_of(&self, token: u32) -> Option<u32> {
        let slot = slot(token);
        let live = self.slots.get(slot as usize).filter(|s| s.entry.is_some())?;
        (token_of(slot, live.generation) == token).then_some(slot)
    }

    /// Frees `slot`, returning its entry.
    pub fn remove(&mut self, slot: u32) -> Option<T> {
        let entry = self.slots.get_mut(slot as usize)?.entry.take()?;
        self.free.push(slot);
        Some(entry)
    }

    /// Entries live now.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// `true` if no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One more than the highest slot ever used: every live entry's slot is below it.
    pub fn slots(&self) -> u32 {
        self.slots.len() as u32
    }
}

impl<'t, T> Vacant<'t, T> {
    /// The token the entry will have.
    pub fn token(&self) -> u32 {
        let generation = self.table.slots.get(self.slot as usize).map_or(0, |s| s.generation);
        token_of(self.slot, generation.wrapping_add(1))
    }

    /// Puts `entry` in the slot; returns the slot and the entry, in place.
    pub fn insert(self, entry: T) -> (u32, &'t mut T) {
        let table = self.table;
        if self.slot as usize == table.slots.len() {
            table.slots.push(Slot { generation: 0, entry: None });
        } else {
            table.free.pop();
        }
        let slot = &mut table.slots[self.slot as usize];
        slot.generation = slot.generation.wrapping_add(1);
        (self.slot, slot.entry.insert(entry))
    }
}

/// The slot a token names (whether or not its entry is still live).
pub fn slot(token: u32) -> u32 {
    token & SLOT_MASK
}

fn token_of(slot: u32, generation: u32) -> u32 {
    ((generation & GENERATION_MASK) << SLOT_BITS) | slot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_gets_a_new_token_and_the_old_one_names_nothing() {
        let mut table = Table::default();
        let vacant = table.vacant().unwrap();
        let first = vacant.token();
        let (slot, _) = vacant.insert("a");
        assert_eq!(table.slot_of(first), Some(slot));
        assert_eq!(table.remove(slot), Some("a"));
        assert_eq!(table.slot_of(first), None);
        let vacant = table.vacant().unwrap();
        let second = vacant.token();
        assert_eq!(vacant.insert("b").0, slot, "the freed slot is reused");
        assert_ne!(second, first);
        assert_eq!(table.slot_of(first), None);
        assert_eq!(table.slot_of(second), Some(slot));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_vacant_slot_not_taken_changes_nothing() {
        let mut table = Table::default();
        let token = table.vacant().unwrap().token();
        assert_eq!(table.len(), 0);
        let vacant = table.vacant().unwrap();
        assert_eq!(vacant.token(), token);
        vacant.insert(1);
        assert_eq!(table.slot_of(token), Some(0));
    }
}

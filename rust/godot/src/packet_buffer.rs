//! The raw-pointer side of `PacketPeer`: Godot calls `get_packet_rawptr`/`put_packet_rawptr`
//! (when implemented) instead of copying through a PackedByteArray.

use godot::global::Error;
use godot::meta::conv::RawPtr;
use websocket_server_core::Bytes;

/// The packet last handed to Godot by `get_packet`: Godot reads it through a raw pointer until
/// the next `get_packet`, so it must live here until then.
#[derive(Default)]
pub struct HandedPacket {
    current: Bytes,
}

impl HandedPacket {
    /// Hands `packet` to Godot through the out-parameters, or reports that there is none.
    /// Never panics: Godot reads the out-parameters whatever happens.
    ///
    /// # Safety
    /// `r_buffer` and `r_buffer_size` must be the valid out-parameters Godot passed to
    /// `get_packet_rawptr`.
    pub unsafe fn hand_out(
        &mut self,
        packet: Option<Bytes>,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        let found = packet.is_some();
        // Replacing frees the previous packet: Godot has copied it by now.
        self.current = packet.unwrap_or_default();
        // SAFETY: the caller passes Godot's out-parameters; `current` stays alive in self.
        unsafe {
            if found {
                *r_buffer.ptr() = RawPtr::new(self.current.as_ptr());
                *r_buffer_size.ptr() = self.current.len() as i32;
            } else {
                *r_buffer.ptr() = RawPtr::null();
                *r_buffer_size.ptr() = 0;
            }
        }
        if found {
            Error::OK
        } else {
            Error::ERR_UNAVAILABLE
        }
    }
}

/// The bytes Godot passes to `put_packet_rawptr`, valid for that call.
///
/// # Safety
/// `buffer` must point to `size` readable bytes (or be null with `size` 0), as Godot guarantees
/// for the duration of `put_packet_rawptr`.
pub unsafe fn incoming<'a>(buffer: RawPtr<*const u8>, size: i32) -> &'a [u8] {
    let len = size.max(0) as usize;
    if len == 0 || buffer.ptr().is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(buffer.ptr(), len) }
    }
}

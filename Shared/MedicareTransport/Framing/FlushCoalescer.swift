import NIOCore

/// Writes now, flushes once per event-loop tick: many frames written in one tick (calls
/// finishing or starting together) share one flush and one TLS record batch.
/// Loop-confined, like the handler that owns it.
final class FlushCoalescer {
    private var scheduled = false

    func write(_ data: NIOAny, context: ChannelHandlerContext) {
        context.write(data, promise: nil)
        guard !scheduled else { return }
        scheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (coalescer, context) = loopBound.value
            coalescer.scheduled = false
            context.flush()
        }
    }
}

namespace Occystrap.Pipeline;

/// <summary>
/// The places for layers being read and written at once (<c>-j</c>). A layer takes one before it opens its source
/// and gives it back as soon as its source is read to the end, not when the sink has finished with it: what is
/// left then (the last blocks on their way, the destination committing the blob, which for a registry includes
/// writing it to disk) costs little CPU, so the next layer starts in the meantime instead of leaving a core idle.
/// </summary>
internal sealed class LayerSlots(int count)
{
    private readonly SemaphoreSlim _free = new(count, count);

    public async Task<Slot> TakeAsync(CancellationToken ct)
    {
        await _free.WaitAsync(ct).ConfigureAwait(false);
        return new Slot(_free);
    }

    /// <summary>One taken place; given back once, by <see cref="Release"/> or on dispose, whichever comes first.</summary>
    public sealed class Slot(SemaphoreSlim free) : IDisposable
    {
        private int _given;

        public void Release()
        {
            if (Interlocked.Exchange(ref _given, 1) == 0) free.Release();
        }

        public void Dispose() => Release();
    }
}

using Occystrap.Abstractions;
using Occystrap.Formats.IO;

namespace Occystrap.Formats.Tar;

/// <summary>One step of a layer's filter chain: a filter, or a tap that records the digest the layer has at that point.</summary>
public abstract class LayerStage
{
    private LayerStage() { }

    public static LayerStage Of(ILayerEntryFilter filter) => new FilterStage(filter);

    public sealed class FilterStage(ILayerEntryFilter filter) : LayerStage
    {
        public ILayerEntryFilter Filter { get; } = filter;
    }

    /// <summary>Serialises the entries as they stand at this point into a hash: the layer's digest here.</summary>
    public sealed class Tap : LayerStage
    {
        private readonly HashingWriteStream _hash = new(null);

        public Tap(int position)
        {
            Position = position;
            Writer = new TarArchiveWriter(_hash, leaveOpen: true);
        }

        /// <summary>The place in the image's filter list this tap stands for.</summary>
        public int Position { get; }

        internal TarArchiveWriter Writer { get; }

        internal bool Receiving { get; set; }

        /// <summary>Global header records read but not yet stated to this tap (their entry was dropped before it).</summary>
        internal Dictionary<string, byte[]>? PendingGlobal { get; set; }

        public Digest Digest => _hash.Complete();

        public long Size => _hash.BytesWritten;
    }
}

using Occystrap.Abstractions;

namespace Occystrap.Pipeline;

/// <summary>One filter of a run: its plugin name and bound options (the pipeline's identity for the layer cache) and the instance.</summary>
public sealed record PipelineFilter(string Name, OptionValues Options, IImageFilter Filter)
{
    /// <summary>A filter with no name or options, for callers that do not use the layer cache.</summary>
    public static PipelineFilter Of(IImageFilter filter) => new(filter.GetType().FullName ?? "filter", OptionValues.Empty, filter);
}

/// <summary>How a run goes.</summary>
public sealed record RunOptions
{
    public static RunOptions Default { get; } = new();

    /// <summary>Layers handled at once for a sink that takes them in parallel (the sink may say otherwise).</summary>
    public int Parallel { get; init; } = 4;

    /// <summary>The layer cache, or null to use none.</summary>
    public LayerCache? Cache { get; init; }

    /// <summary>
    /// The check made for this run before its sink was open (so that the input could ask it too), or null
    /// to make one for <see cref="Cache"/>. The caller attaches it to the sink.
    /// </summary>
    public LayerCacheCheck? CacheCheck { get; init; }
}

/// <summary>What a run did.</summary>
public sealed record PipelineSummary(int Layers, long Bytes, TimeSpan Elapsed, int Rewritten, int Copied, int FromCache, CommitResult Commit)
{
    /// <summary>Each layer as written, in image order: its diff_id, plain size when seen, and stored blob when there is one.</summary>
    public IReadOnlyList<LayerResult> Written { get; init; } = [];
}

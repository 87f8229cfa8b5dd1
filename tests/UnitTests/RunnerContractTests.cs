using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;
using Occystrap.Pipeline;
using Occystrap.TestKit;

namespace Occystrap.UnitTests;

/// <summary>The runner against the sink contract, with the test kit's in-memory source and sinks.</summary>
[Collection("process environment")]
public sealed class RunnerContractTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static PipelineRunner Runner => new(NullLogger.Instance, NullProgressReporter.Instance);

    private static Task<PipelineSummary> Run(IImageSource source, IImageSink sink, int parallel = 4, LayerCache? cache = null, params PipelineFilter[] filters) =>
        Runner.RunAsync(source, filters, sink, new RunOptions { Parallel = parallel, Cache = cache }, default);

    private static PipelineFilter Rewriting() => new("drop-file0", OptionValues.Empty, new DropFirstFiles());

    private static PipelineFilter Looking() => new("look", OptionValues.Empty, new LookOnly());

    [Theory]
    [InlineData(ManifestFormat.Oci)]
    [InlineData(ManifestFormat.Docker)]
    public async Task A_plain_copy_passes_compressed_blobs_and_the_manifest_on_byte_for_byte(ManifestFormat format)
    {
        var source = RandomImage.Create([4000, 9000, 2000], format: format);
        var sink = new InMemoryImageSink();
        var summary = await Run(source, sink);
        sink.Manifest!.Bytes.ToArray().Should().Equal(source.Manifest!.Bytes.ToArray());
        summary.Commit.Manifest!.Digest.Should().Be(source.Manifest.Descriptor.Digest);
        summary.Commit.ConfigDigest.Should().Be(Digest.Compute(source.Config.Span));
        sink.Writes.Should().AllSatisfy(w => w.Compression.Should().Be(LayerCompression.Gzip));
        foreach (var layer in source.StoredLayers) sink.Blobs[layer.BlobDigest!.Value].Should().Equal(layer.Stored);
    }

    [Fact]
    public async Task A_look_only_filter_keeps_the_manifest_digest()
    {
        var source = RandomImage.Create([4000, 9000]);
        var sink = new InMemoryImageSink();
        await Run(source, sink, filters: Looking());
        sink.Manifest!.Descriptor.Digest.Should().Be(source.Manifest!.Descriptor.Digest);
    }

    [Fact]
    public async Task A_sink_that_stores_only_zstd_gets_every_gzip_layer_plain_and_an_oci_manifest_of_zstd_layers()
    {
        var source = RandomImage.Create([4000, 9000], format: ManifestFormat.Docker);
        var sink = new InMemoryImageSink(stored: [LayerCompression.Zstd], compressWith: LayerCompression.Zstd);
        await Run(source, sink);
        sink.Writes.Should().HaveCount(2).And.AllSatisfy(w => w.Compression.Should().Be(LayerCompression.None));
        var manifest = ImageManifest.Parse(sink.Manifest!.Bytes.Span, "written manifest");
        manifest.MediaType.Should().Be(MediaTypes.OciManifest);
        manifest.Config.MediaType.Should().Be(MediaTypes.OciConfig);
        manifest.Layers.Should().AllSatisfy(l => l.MediaType.Should().Be(MediaTypes.OciLayerZstd));
        foreach (var (layer, written) in source.StoredLayers.Zip(manifest.Layers))
        {
            byte[] blob = sink.Blobs[written.Digest];
            LayerCompressionCodec.Detect(blob).Should().Be(LayerCompression.Zstd);
            using var tar = new MemoryStream();
            LayerCompressionCodec.OpenDecompressed(new MemoryStream(blob), LayerCompression.Zstd).CopyTo(tar);
            tar.ToArray().Should().Equal(layer.Tar, "recompression keeps the tar, so the diff_ids stay");
        }
        ImageConfig.DiffIdsOf(sink.Committed!.Config).Should().Equal(source.StoredLayers.Select(l => l.DiffId));
    }

    [Fact]
    public async Task A_sink_of_plain_tars_gets_every_layer_in_image_order_one_at_a_time_repeats_included()
    {
        var random = RandomImage.Create([3000, 5000], storedAs: LayerCompression.Zstd);
        var layers = random.StoredLayers;
        var source = RandomImage.Build(random.Name, [layers[0], layers[1], layers[0]], null);
        var sink = new InMemoryImageSink(LayerDelivery.EveryLayerInOrder, stored: [], compressWith: LayerCompression.None);
        await Run(source, sink, parallel: 8);
        sink.Writes.Select(w => w.Index).Should().Equal(0, 1, 2);
        sink.Writes.Select(w => Digest.Compute(w.Bytes)).Should().Equal(layers[0].DiffId, layers[1].DiffId, layers[0].DiffId);
        sink.MaxConcurrentWrites.Should().Be(1);
    }

    [Fact]
    public async Task A_parallel_sink_gets_each_distinct_layer_once_and_no_more_read_at_a_time_than_asked()
    {
        var random = RandomImage.Create([3000, 5000, 7000, 9000]);
        var layers = random.StoredLayers;
        var source = new CountingSource(RandomImage.Build(random.Name, [layers[0], layers[1], layers[2], layers[3], layers[1]], ManifestFormat.Oci));
        var sink = new FinishingSink(readersNeeded: 0);
        await Run(source, sink, parallel: 2);
        sink.Writes.Should().HaveCount(4);
        source.MaxReading.Should().BeInRange(1, 2);
        sink.MaxInSink.Should().BeInRange(1, 4);
        sink.Manifest!.Descriptor.Digest.Should().Be(source.Manifest!.Descriptor.Digest);
    }

    [Fact]
    public async Task A_layer_read_to_its_end_gives_its_place_to_the_next_while_the_sink_finishes_it()
    {
        // Each layer stays in the sink after its bytes are read until three layers have been read: with -j 2 that
        // happens only if the third starts while the first two are still being finished (as a registry commits a blob).
        var source = new CountingSource(RandomImage.Create([3000, 5000, 7000, 9000]));
        var sink = new FinishingSink(readersNeeded: 3);
        await Run(source, sink, parallel: 2);
        sink.HeldUp.Should().BeFalse("the third layer must not wait for the first two to be committed");
        sink.Writes.Should().HaveCount(4);
        source.MaxReading.Should().BeInRange(1, 2, "no more layers are read at once than -j");
        sink.MaxInSink.Should().BeInRange(3, 4, "as many again may be finishing");
        sink.Manifest!.Descriptor.Digest.Should().Be(source.Manifest!.Descriptor.Digest);
    }

    private static void Raise(ref int now, ref int max)
    {
        int n = Interlocked.Increment(ref now);
        for (int seen; n > (seen = Volatile.Read(ref max)) && Interlocked.CompareExchange(ref max, n, seen) != seen;) { }
    }

    /// <summary>Counts the layers whose stream is open and not yet read to its end, the most at once.</summary>
    private sealed class CountingSource(InMemoryImageSource inner) : IImageSource
    {
        private int _reading, _maxReading;

        public int MaxReading => _maxReading;
        public ImageName Name => inner.Name;
        public ReadOnlyMemory<byte> Config => inner.Config;
        public ImageDocument? Manifest => inner.Manifest;
        public IReadOnlyList<ISourceLayer> Layers => [.. inner.StoredLayers.Select(l => new Layer(l, this))];
        public ValueTask DisposeAsync() => inner.DisposeAsync();

        private sealed class Layer(InMemoryLayer layer, CountingSource counts) : LayerOver(layer)
        {
            public override async Task<Stream> OpenAsync(CancellationToken cancellationToken)
            {
                Raise(ref counts._reading, ref counts._maxReading);
                return new EndStream(await layer.OpenAsync(cancellationToken), () => Interlocked.Decrement(ref counts._reading));
            }
        }

        /// <summary>Says its end before it returns it, so the count drops before the runner hears of the end.</summary>
        private sealed class EndStream(Stream inner, Action atEnd) : Occystrap.Formats.IO.ReadOnlyStream
        {
            private Action? _atEnd = atEnd;

            public override int Read(Span<byte> buffer)
            {
                int n = inner.Read(buffer);
                if (n == 0 && buffer.Length > 0) Interlocked.Exchange(ref _atEnd, null)?.Invoke();
                return n;
            }
        }
    }

    /// <summary>
    /// Keeps each layer after reading it whole until <c>readersNeeded</c> layers have been read (or 10 s pass, which it
    /// records as held up), then stores it: the time a registry takes to commit a blob it has received.
    /// </summary>
    private sealed class FinishingSink(int readersNeeded) : InMemoryImageSink
    {
        private readonly TaskCompletionSource _enoughRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inSink, _maxInSink, _read;

        public int MaxInSink => _maxInSink;

        public bool HeldUp { get; private set; }

        public override async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken cancellationToken)
        {
            Raise(ref _inSink, ref _maxInSink);
            try
            {
                var bytes = new MemoryStream();
                await Task.Yield();
                await layer.Stream.CopyToAsync(bytes, cancellationToken);
                if (Interlocked.Increment(ref _read) >= readersNeeded) _enoughRead.TrySetResult();
                if (await Task.WhenAny(_enoughRead.Task, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)) != _enoughRead.Task) HeldUp = true;
                return await base.WriteLayerAsync(new LayerContent(layer.Index, new MemoryStream(bytes.ToArray()), layer.Compression, () => (layer.DiffId, layer.Size))
                {
                    MediaType = layer.MediaType,
                    KnownDiffId = layer.KnownDiffId,
                    KnownBlobDigest = layer.KnownBlobDigest,
                    KnownLength = layer.KnownLength,
                }, cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _inSink);
            }
        }
    }

    [Fact]
    public async Task A_blob_the_destination_has_or_can_mount_is_not_read_at_all()
    {
        var here = new BlobLocation("registry.test", "team/app");
        var source = RandomImage.Create([3000, 5000], location: new BlobLocation("registry.test", "team/base"));
        var store = new InMemoryBlobStore(here);
        store.Seed(source.StoredLayers[0].Stored);
        store.AllowMount(source.StoredLayers[1].Stored, new BlobLocation("registry.test", "team/base"));
        var summary = await Run(source, store);
        source.Opens.Should().Be(0);
        store.Writes.Should().BeEmpty();
        store.Mounts.Should().Be(1);
        summary.Commit.Manifest!.Digest.Should().Be(source.Manifest!.Descriptor.Digest);
    }

    [Fact]
    public async Task The_layer_cache_skips_rewritten_layers_the_sink_still_has_and_gives_the_same_manifest()
    {
        var source = RandomImage.Create([3000, 5000]);
        var store = new InMemoryBlobStore(new BlobLocation("registry.test", "team/app"));
        var cache = LayerCache.Open(_dir["cache.json"], NullLogger.Instance);
        var first = await Run(source, store, cache: cache, filters: Rewriting());
        source.Opens.Should().Be(2);
        first.Rewritten.Should().Be(2);

        var again = await Run(source, store, cache: cache, filters: Rewriting());
        source.Opens.Should().Be(2, "both layers came from the cache");
        again.FromCache.Should().Be(2);
        again.Commit.Manifest!.Digest.Should().Be(first.Commit.Manifest!.Digest);

        // A blob the store lost is not trusted: that layer is read again.
        store.Lose(ImageManifest.Parse(store.Manifest!.Bytes.Span, "m").Layers[1].Digest);
        var third = await Run(source, store, cache: cache, filters: Rewriting());
        source.Opens.Should().Be(3);
        third.FromCache.Should().Be(1);
        third.Commit.Manifest!.Digest.Should().Be(first.Commit.Manifest.Digest);
    }

    [Fact]
    public async Task The_layer_cache_is_keyed_by_the_sinks_own_part()
    {
        var source = RandomImage.Create([3000]);
        var cache = LayerCache.Open(_dir["cache.json"], NullLogger.Instance);
        var gzipStore = new InMemoryBlobStore(new BlobLocation("registry.test", "a"));
        await Run(source, gzipStore, cache: cache, filters: Rewriting());
        var zstdStore = new InMemoryBlobStore(new BlobLocation("registry.test", "a"), [LayerCompression.Zstd], LayerCompression.Zstd);
        foreach (var blob in gzipStore.Blobs.Values) zstdStore.Seed(blob);
        var summary = await Run(source, zstdStore, cache: cache, filters: Rewriting());
        summary.FromCache.Should().Be(0, "a gzip blob cached for one sink is no answer for a sink that stores zstd");
        ImageManifest.Parse(zstdStore.Manifest!.Bytes.Span, "m").Layers.Should().AllSatisfy(l => l.MediaType.Should().Be(MediaTypes.OciLayerZstd));
    }

    [Fact]
    public async Task A_rewritten_layer_changes_the_config_and_the_manifest_but_keeps_unknown_manifest_members()
    {
        var random = RandomImage.Create([3000, 5000]);
        var json = JsonText.ParseObject(random.Manifest!.Bytes.Span, "m");
        json["annotations"] = new System.Text.Json.Nodes.JsonObject { ["org.example.kept"] = "yes" };
        byte[] bytes = JsonText.Serialize(json);
        var source = new InMemoryImageSource(random.Name, random.Config, new ImageDocument(random.Manifest.Descriptor with { Digest = Digest.Compute(bytes), Size = bytes.Length }, bytes), random.StoredLayers);
        var sink = new InMemoryImageSink();
        await Run(source, sink, filters: Rewriting());
        var written = ImageManifest.Parse(sink.Manifest!.Bytes.Span, "m");
        written.Annotations.Should().ContainKey("org.example.kept");
        written.Config.Digest.Should().NotBe(ImageManifest.Parse(bytes, "m").Config.Digest);
        ImageConfig.DiffIdsOf(sink.Committed!.Config).Should().NotIntersectWith(source.StoredLayers.Select(l => l.DiffId));
    }

    [Fact]
    public async Task A_source_receiving_its_image_gets_each_layer_written_as_it_arrives_and_the_config_read_last()
    {
        var random = RandomImage.Create([4000, 9000], format: ManifestFormat.Docker);
        var source = new ArrivingSource(random);
        var sink = new InMemoryImageSink();
        var run = Run(source, sink);

        source.Arrive(1);
        await WaitFor(() => sink.Writes.Count == 1);
        sink.Writes.Single().Index.Should().Be(1, "the layer that arrived is written while the other is still awaited");
        run.IsCompleted.Should().BeFalse();
        source.Arrive(0);
        await WaitFor(() => sink.Writes.Count == 2);
        run.IsCompleted.Should().BeFalse("the config has not come yet");
        source.ConfigArrives();
        var summary = await run;
        summary.Commit.ConfigDigest.Should().Be(Digest.Compute(random.Config.Span));
        ImageConfig.DiffIdsOf(sink.Committed!.Config).Should().Equal(random.StoredLayers.Select(l => l.DiffId));
    }

    [Fact]
    public async Task A_failure_while_the_image_arrives_ends_the_run_with_that_error_and_commits_nothing()
    {
        var source = new ArrivingSource(RandomImage.Create([4000, 9000]));
        var sink = new InMemoryImageSink();
        var run = Run(source, sink);
        source.Arrive(0);
        source.Fail(new OccystrapException("the daemon failed to push"));
        var act = async () => await run;
        (await act.Should().ThrowAsync<OccystrapException>()).WithMessage("the daemon failed to push");
        sink.Committed.Should().BeNull();
    }

    [Fact]
    public async Task The_cache_check_an_input_asks_before_the_sink_is_open_answers_once_it_is()
    {
        var cache = LayerCache.Open(_dir["cache.json"], NullLogger.Instance);
        var check = new LayerCacheCheck(cache);
        var diffId = Digest.Compute("x"u8);
        var early = check.IsStoredAsync(diffId, default).AsTask();
        await Task.Delay(50);
        early.IsCompleted.Should().BeFalse("no sink is open yet to confirm anything");
        check.Attach([], new InMemoryBlobStore(new BlobLocation("registry.example", "team/app")));
        (await early).Should().BeFalse("the cache holds nothing for it");

        var abandoned = new LayerCacheCheck(cache);
        var waiting = abandoned.IsStoredAsync(diffId, default).AsTask();
        abandoned.Abandon();
        (await waiting).Should().BeFalse();
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "the runner should have got there");
            await Task.Delay(10);
        }
    }

    /// <summary>An image that arrives while the run goes: each layer when told, the config last.</summary>
    private sealed class ArrivingSource(InMemoryImageSource image) : IImageSource
    {
        private readonly TaskCompletionSource<ReadOnlyMemory<byte>> _config = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<Gated> _layers = image.StoredLayers.Select(l => new Gated(l)).ToList();

        public ImageName Name => image.Name;
        public ReadOnlyMemory<byte> Config => _config.Task.IsCompletedSuccessfully ? _config.Task.Result : ReadOnlyMemory<byte>.Empty;
        public ImageDocument? Manifest => null;
        public IReadOnlyList<ISourceLayer> Layers => _layers;

        public ValueTask<ReadOnlyMemory<byte>> ReadConfigAsync(CancellationToken cancellationToken) => new(_config.Task.WaitAsync(cancellationToken));

        public void Arrive(int i) => _layers[i].Arrived.TrySetResult();

        public void ConfigArrives() => _config.TrySetResult(image.Config);

        public void Fail(Exception e)
        {
            foreach (var l in _layers) l.Arrived.TrySetException(e);
            _config.TrySetException(e);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private sealed class Gated(InMemoryLayer layer) : LayerOver(layer)
        {
            public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public override ValueTask WhenAvailableAsync(CancellationToken cancellationToken) => new(Arrived.Task.WaitAsync(cancellationToken));

            public override Task<Stream> OpenAsync(CancellationToken cancellationToken) =>
                Arrived.Task.IsCompletedSuccessfully ? layer.OpenAsync(cancellationToken) : throw new InvalidOperationException("opened before it arrived");
        }
    }

    /// <summary>A test kit layer seen through a source of a test's own: what it says of itself, and how it opens.</summary>
    private abstract class LayerOver(InMemoryLayer layer) : ISourceLayer
    {
        public int Index => layer.Index;
        public Digest DiffId => layer.DiffId;
        public LayerCompression Compression => layer.Compression;
        public Digest? BlobDigest => layer.BlobDigest;
        public long? StoredSize => layer.StoredSize;
        public string? MediaType => layer.MediaType;

        public virtual ValueTask WhenAvailableAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public abstract Task<Stream> OpenAsync(CancellationToken cancellationToken);
    }

    private sealed class DropFirstFiles : IImageFilter, ILayerEntryFilter
    {
        public ILayerEntryFilter? ForLayer(LayerInfo layer) => this;

        public EntryAction Process(LayerEntry entry) => entry.FileName == "file0" ? EntryAction.Drop : EntryAction.Keep;
    }

    private sealed class LookOnly : IImageFilter, ILayerEntryFilter
    {
        public bool ObservesLayers => true;

        public ILayerEntryFilter? ForLayer(LayerInfo layer) => this;

        public EntryAction Process(LayerEntry entry) => EntryAction.Keep;

        public bool ChangesEntries => false;
    }
}

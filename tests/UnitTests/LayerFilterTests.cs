using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;
using Occystrap.Filters.Exclude;
using Occystrap.Filters.NormalizeTimestamps;
using Occystrap.Formats.Tar;
using Occystrap.Host.Plugins;

namespace Occystrap.UnitTests;

/// <summary>The layer filters on a GNU-tar layer with every entry type: each changes what it means to and nothing else.</summary>
[Collection("process environment")]
public sealed class LayerFilterTests : IDisposable
{
    private readonly TempDir _dir = new();

    public LayerFilterTests()
    {
        Shell.Run("""
            mkdir -p tree/app/.git/objects tree/app/__pycache__ tree/lib tree/gone
            cd tree
            echo code > app/main.py && echo bytecode > app/main.pyc && echo c > app/__pycache__/main.cpython-311.pyc
            echo ref > app/.git/HEAD && echo obj > app/.git/objects/ab
            echo lib > lib/keep.so && ln lib/keep.so lib/keep-link.so
            echo cfg > .gitconfig
            ln app/main.pyc lib/link-to-pyc
            touch gone/.wh.old.pyc gone/.wh.old.txt app/.wh..wh..opq
            mkfifo lib/fifo
            mknod lib/null c 1 3
            ln -s keep.so lib/keep-symlink.so
            setfattr -n user.occy -v 0x80ff lib/keep.so
            find . -mindepth 1 | LC_ALL=C sort > ../list
            tar --format=pax --xattrs --xattrs-include='*' --numeric-owner --no-recursion -T ../list -cf ../layer.tar
            """, _dir.Path);
    }

    public void Dispose() => _dir.Dispose();

    private string Apply(string spec, IFilterPlugin plugin, string output) => Apply(Create(spec, plugin), output);

    private static IImageFilter Create(string spec, IFilterPlugin plugin)
    {
        var parsed = PluginSpec.ParseFilter(spec);
        var invocation = new PluginInvocation("", parsed.Bind(plugin, "filter"), NullLogger.Instance, NullProgressReporter.Instance);
        return plugin.Create(invocation);
    }

    private string Apply(IImageFilter imageFilter, string output)
    {
        var filter = imageFilter.ForLayer(new LayerInfo(ImageName.Unnamed, 0, 1, default))!;
        using var input = File.OpenRead(_dir["layer.tar"]);
        using var rewrite = new TarRewriteStream(input, [filter]);
        using (var o = File.Create(_dir[output])) rewrite.CopyTo(o);
        return _dir[output];
    }

    private static List<string> Names(string tar) =>
        Shell.Run($"tar -tf {tar}").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(n => n.TrimEnd('/')).ToList();

    [Fact]
    public void Exclude_drops_matches_what_is_under_them_and_whiteouts_and_hardlinks_that_point_at_them()
    {
        string output = Apply("exclude:pattern=**/.git/**,**/__pycache__/**,*.pyc", new ExcludeFilter(), "x.tar");
        Names(output).Should().BeEquivalentTo(
            "./app", "./app/main.py", "./app/.wh..wh..opq", "./gone", "./gone/.wh.old.txt",
            "./lib", "./lib/keep.so", "./lib/keep-link.so", "./lib/keep-symlink.so", "./lib/fifo", "./lib/null", "./.gitconfig");
        // What stays is unchanged, as GNU tar lists it.
        string Listing(string tar) => Shell.Run($"tar --xattrs --xattrs-include='*' --numeric-owner --full-time -tvvf {tar} | grep -e keep -e fifo -e 'main.py$'");
        Listing(output).Should().Be(Listing(_dir["layer.tar"]));
    }

    [Fact]
    public void Exclude_drops_files_under_an_excluded_folder_that_has_no_entry_of_its_own()
    {
        Shell.Run("""
            mkdir -p t/app/sub && echo x > t/app/sub/x.py && echo y > t/app/y.py
            tar --format=pax -C t -cf nodirs.tar app/sub/x.py app/y.py
            """, _dir.Path);
        var filter = Create("exclude:pattern=sub", new ExcludeFilter()).ForLayer(new LayerInfo(ImageName.Unnamed, 0, 1, default))!;
        using var input = File.OpenRead(_dir["nodirs.tar"]);
        using var rewrite = new TarRewriteStream(input, [filter]);
        using (var o = File.Create(_dir["nodirs.out.tar"])) rewrite.CopyTo(o);
        Names(_dir["nodirs.out.tar"]).Should().Equal("app/y.py");
    }

    [Fact]
    public void Normalize_refuses_a_time_no_date_can_hold()
    {
        var act = () => Create("normalize-timestamps:ts=999999999999999", new NormalizeTimestampsFilter());
        act.Should().Throw<UsageException>().WithMessage("*ts must be between*");
    }

    [Fact]
    public void Normalize_sets_every_time_drops_atime_and_ctime_and_keeps_the_rest()
    {
        string output = Apply("normalize-timestamps:ts=1609459200", new NormalizeTimestampsFilter(), "n.tar");
        Shell.Run($"tar --full-time -tvf {output} | awk '{{print $4, $5}}' | sort -u").Trim().Should().Be("2021-01-01 00:00:00");
        Shell.Run($"strings {output} | grep -c -e ' atime=' -e ' ctime=' || true").Trim().Should().Be("0");
        Shell.Run($"strings {_dir["layer.tar"]} | grep -c ' atime=' || true").Trim().Should().NotBe("0", "the input had atime records to drop");
        string Listing(string tar) => Shell.Run($"tar --xattrs --xattrs-include='*' --numeric-owner -tvvf {tar} | awk '{{$4=\"\"; $5=\"\"; print}}'");
        Listing(output).Should().Be(Listing(_dir["layer.tar"]));
    }

    [Fact]
    public void Normalize_without_ts_uses_SOURCE_DATE_EPOCH()
    {
        Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", "1700000001");
        try
        {
            string output = Apply("normalize-timestamps", new NormalizeTimestampsFilter(), "e.tar");
            Shell.Run($"TZ=UTC tar --full-time -tvf {output} | awk '{{print $4, $5}}' | sort -u").Trim().Should().Be("2023-11-14 22:13:21");
        }
        finally
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", null);
        }
    }

    [Fact]
    public async Task Search_lists_every_entry_type_and_leaves_the_layer_byte_for_byte()
    {
        var output = new StringWriter();
        var original = Console.Out;
        Console.SetOut(output);
        try
        {
            var filter = Create("search:pattern=lib/**", new Occystrap.Filters.Search.SearchFilter());
            string searched = Apply(filter, "s.tar");
            File.ReadAllBytes(searched).Should().Equal(File.ReadAllBytes(_dir["layer.tar"]));
            await filter.EndAsync(new ImageResult(ImageName.Parse("test/img:1"), "{}"u8.ToArray(),
                [new LayerResult(0, Digest.Sha256(new string('a', 64)), 0)], null), default);
        }
        finally
        {
            Console.SetOut(original);
        }
        output.ToString().Split('\n').Select(l => l.TrimEnd()).Should().Contain(
        [
            "Layer: " + new string('a', 64),
            "  ./lib/keep-link.so (file, 4 bytes)",
            "  ./lib/keep.so -> ./lib/keep-link.so (hardlink)",
            "  ./lib/keep-symlink.so -> keep.so (symlink)",
            "  ./lib/fifo (fifo)",
            "  ./lib/null (character device)",
            "  ./lib/ (directory)",
            "  ./lib/link-to-pyc -> ./app/main.pyc (hardlink)",
            "Found 7 matches in 1 layer.",
        ]);
    }

    [Theory]
    [InlineData("**/.git/**", ".git", true)]
    [InlineData("**/.git/**", ".git/config", true)]
    [InlineData("**/.git/**", "./src/.git/objects/ab", true)]
    [InlineData("**/.git/**", ".gitconfig", false)]
    [InlineData("*.pyc", "app/main.pyc", true)]
    [InlineData("*.pyc", "app/main.py", false)]
    [InlineData("app/*.py", "app/sub/x.py", false)]
    [InlineData("app/**/*.py", "app/x.py", true)]
    [InlineData("usr/share/doc", "usr/share/doc/", true)]
    [InlineData("file[0-9].txt", "a/file7.txt", true)]
    [InlineData("file[!0-9].txt", "a/file7.txt", false)]
    [InlineData("**", "any/thing/at/all", true)]
    [InlineData("**", "top", true)]
    public void Globs_match_like_their_documentation_says(string pattern, string path, bool match)
    {
        new PathGlob(pattern).IsMatch(path).Should().Be(match);
    }
}

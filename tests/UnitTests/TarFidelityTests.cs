using Occystrap.Formats.Tar;

namespace Occystrap.UnitTests;

/// <summary>
/// Layers written by GNU tar in PAX and GNU formats, with every entry type a container layer holds,
/// survive a read and rewrite by our tar code with nothing changed (checked by GNU tar itself).
/// </summary>
public sealed class TarFidelityTests : IDisposable
{
    private readonly TempDir _dir = new();

    public TarFidelityTests()
    {
        string longDir = new string('d', 120);
        string longName = new string('n', 154);
        Shell.Run($"""
            mkdir -p tree/{longDir}/{new string('e', 110)} tree/setgid tree/sticky tree/sub
            cd tree
            echo hello > file.txt
            head -c 100000 /dev/urandom > random.bin
            echo long > {longDir}/{longName}
            echo deeper > {longDir}/{new string('e', 110)}/{new string('f', 60)}
            ln file.txt hardlink.txt
            ln file.txt sub/hardlink-in-sub.txt
            ln -s file.txt symlink
            ln -s ../{longDir}/{longName} sub/long-symlink
            ln -s /does/not/exist dangling
            mkfifo fifo
            mknod chardev c 1 3
            mknod blockdev b 7 0
            echo s > setuid && chmod 4755 setuid
            chmod 2775 setgid && chmod 1777 sticky
            echo x > owned && chown 3000000:3000001 owned
            echo u > 'ünïcödé name.txt'
            touch .wh.deleted-file sub/.wh..wh..opq
            setfattr -n user.occy.text -v hello file.txt
            setfattr -n user.occy.binary -v 0x0180ff00fe random.bin
            """, _dir.Path);
        string list = "find . -mindepth 1 | LC_ALL=C sort > ../list";
        Shell.Run($"""
            {list}
            tar --format=pax --xattrs --xattrs-include='*' --numeric-owner --no-recursion -T ../list -cf ../pax.tar
            tar --format=gnu --numeric-owner --no-recursion -T ../list -cf ../gnu.tar
            """, _dir["tree"]);
    }

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("pax.tar")]
    [InlineData("gnu.tar")]
    public void Rewrite_keeps_every_entry_as_gnu_tar_lists_it(string archive)
    {
        string rewritten = Rewrite(_dir[archive], _dir[archive + ".out"]);
        Listing(rewritten).Should().Be(Listing(_dir[archive]));
        Listing(rewritten).Should().Contain("chardev").And.Contain("fifo").And.Contain(new string('n', 154));
    }

    [Fact]
    public void Rewrite_keeps_binary_xattr_bytes()
    {
        string rewritten = Rewrite(_dir["pax.tar"], _dir["pax.out.tar"]);
        Shell.Run($"mkdir x && tar --xattrs --xattrs-include='*' -xf {rewritten} -C x", _dir.Path);
        string value = Shell.Run("getfattr --only-values -e hex -n user.occy.binary x/random.bin | od -An -tx1 | tr -d ' \\n'", _dir.Path);
        value.Should().Be("0180ff00fe");
        Shell.Run("getfattr --only-values -n user.occy.text x/file.txt", _dir.Path).Should().Be("hello");
    }

    [Fact]
    public void Rewrite_is_byte_identical_on_every_run()
    {
        byte[] first = File.ReadAllBytes(Rewrite(_dir["pax.tar"], _dir["a.tar"]));
        byte[] second = File.ReadAllBytes(Rewrite(_dir["pax.tar"], _dir["b.tar"]));
        first.Should().Equal(second);
    }

    [Fact]
    public void Unchanged_pax_times_are_written_back_digit_for_digit()
    {
        string rewritten = Rewrite(_dir["pax.tar"], _dir["t.tar"]);
        Shell.Run($"tar --full-time -tvf {rewritten} | awk '{{print $4, $5}}'")
            .Should().Be(Shell.Run($"tar --full-time -tvf {_dir["pax.tar"]} | awk '{{print $4, $5}}'"));
    }

    [Fact]
    public void Rewrite_stream_drops_what_a_filter_drops_and_keeps_the_rest()
    {
        using var input = File.OpenRead(_dir["pax.tar"]);
        using var rewrite = new TarRewriteStream(input, [new DropFifo()]);
        using (var output = File.Create(_dir["nofifo.tar"])) rewrite.CopyTo(output);
        rewrite.Dropped.Should().Be(1);
        Listing(_dir["nofifo.tar"]).Should().Be(string.Join("\n", Listing(_dir["pax.tar"]).Split('\n').Where(l => !l.EndsWith(" ./fifo", StringComparison.Ordinal))));
    }

    private sealed class DropFifo : Abstractions.ILayerEntryFilter
    {
        public Abstractions.EntryAction Process(Abstractions.LayerEntry entry) =>
            entry.Kind == Abstractions.EntryKind.Fifo ? Abstractions.EntryAction.Drop : Abstractions.EntryAction.Keep;
    }

    private static string Rewrite(string source, string destination)
    {
        using var input = File.OpenRead(source);
        using var reader = new TarArchiveReader(input);
        using var output = File.Create(destination);
        using var writer = new TarArchiveWriter(output);
        while (reader.Next() is { } record) writer.WriteRecord(record);
        writer.Finish();
        return destination;
    }

    /// <summary>GNU tar's own verbose listing with owners as numbers and xattrs, which is what must not change.</summary>
    private static string Listing(string archive) =>
        Shell.Run($"tar --xattrs --xattrs-include='*' --numeric-owner --full-time -tvvf {archive}").TrimEnd();
}

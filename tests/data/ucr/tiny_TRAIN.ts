# A hand-made univariate set: three series of four steps, two classes.
@problemName Tiny
@timeStamps false
@missing false
@univariate true
@equalLength true
@seriesLength 4
@classLabel true up down
@data
1,2,3,4:up
4,3,2,1:down
0,1,1,2:up
